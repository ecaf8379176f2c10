"""The acoustic network (a small TDNN over MFCCs, one output per 30 ms frame), its training by
frame cross-entropy on Viterbi alignments, and its export as nnet3 affine layers.

Layout (offsets in 10 ms input frames; every layer after the first runs at the 30 ms output rate,
as libvosk evaluates it with --frame-subsampling-factor=3):
  tdnn1 Append(-2..2) of MFCC   tdnn2 (-3,0,3)   tdnn3 (-3,0,3)   tdnn4 (-6,0,6)   tdnn5 (-6,0,6)
  output affine -> log-softmax over phones.   Context: 20 frames (200 ms) each side.
With a bottleneck (TDNN-F style, `TrainConfig.bottleneck`), tdnn2-5 are each factorised into a
linear map from the spliced frames down to `bottleneck` dimensions (no bias, no ReLU) and an affine
back up to `hidden` with ReLU: about the same multiply-adds as a plain layer of width
sqrt(hidden * bottleneck * 4 / 3), but `hidden` units wide (Povey et al., Interspeech 2018, without
the semi-orthogonal constraint or the skip connections).
BatchNorm after each ReLU is used in training only and folded into the next affine for export;
the input mean/variance normalisation is folded into the first affine.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from models.build.kaldi_format import Layer

CONTEXT = 20
OFFSETS = [[-2, -1, 0, 1, 2], [-3, 0, 3], [-3, 0, 3], [-6, 0, 6], [-6, 0, 6]]


@dataclass(frozen=True)
class TrainConfig:
    hidden: int = 256
    batch_frames: int = 12000     # output frames per batch (30 ms each)
    lr: float = 2e-3
    label_smoothing: float = 0.05
    dropout: float = 0.0          # on hidden layers, training only (0.1 measured worse on held-out voices)
    threads: int = 2
    bottleneck: int = 0           # > 0: factorised tdnn2-5 (hidden -> bottleneck -> hidden); 0: plain TDNN
    bf16: bool = True             # bfloat16 matrix products in training where the CPU has them natively


def bf16_native() -> bool:
    """Does this CPU multiply bfloat16 in hardware (AVX512-BF16 or AMX)? There, autocast training
    runs ~2.2x faster than float32 (measured on a 2-core EPYC: 0.27 vs 0.59 s per 12,000-frame
    batch of the 384-wide TDNN); elsewhere bfloat16 is emulated and slower, so float32 is kept."""
    torch = _torch()
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        return False


def _torch():
    import torch
    return torch


# The first layer's offsets over a frozen body's outputs (ko_body): one frame, as the body's own
# chain head reads prefinal-l. Every offset of the network is then a multiple of 3, so libvosk (at
# --frame-subsampling-factor=3) computes the body's upper layers at every third 10 ms frame only,
# not at all five frames -2..2 would need: the body's cost in decoding falls ~2.5x (docs/ko-body.md).
BODY_FIRST_OFFSETS = (0,)


def make_model(input_dim: int, num_pdfs: int, hidden: int, dropout: float = 0.0, bottleneck: int = 0,
               first_offsets: tuple[int, ...] | None = None):
    """The TDNN (plain, or factorised when `bottleneck` > 0). `convs` run in order; `relu[i]` says
    whether conv i is followed by ReLU and BatchNorm (`norms` holds one per such conv, in order, so
    a plain network's parameter names are the same as before bottlenecks existed).
    `first_offsets`: the first layer's input offsets (10 ms frames, evenly spaced, symmetric, within
    -2..2) instead of OFFSETS[0]; the network's output frames and context stay the same."""
    torch = _torch()
    nn = torch.nn
    first = list(first_offsets) if first_offsets is not None else OFFSETS[0]
    step = first[1] - first[0] if len(first) > 1 else 1
    if first != list(range(first[0], first[-1] + 1, step)) or first[0] != -first[-1] or first[-1] > OFFSETS[0][-1]:
        raise ValueError(f"first-layer offsets {first}: evenly spaced, symmetric, within {OFFSETS[0]}")

    class TDNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            convs = [nn.Conv1d(input_dim, hidden, len(first), stride=3, dilation=step)]
            self.skip = OFFSETS[0][-1] - first[-1]     # input frames the first layer does not reach, each side
            self.offsets = [first]
            self.relu = [True]
            for offsets in OFFSETS[1:]:
                dilation = offsets[-1] // 3
                if bottleneck:
                    convs += [nn.Conv1d(hidden, bottleneck, 3, dilation=dilation, bias=False),
                              nn.Conv1d(bottleneck, hidden, 1)]
                    self.offsets += [offsets, [0]]
                    self.relu += [False, True]
                else:
                    convs.append(nn.Conv1d(hidden, hidden, 3, dilation=dilation))
                    self.offsets.append(offsets)
                    self.relu.append(True)
            self.convs = nn.ModuleList(convs)
            self.norms = nn.ModuleList([nn.BatchNorm1d(hidden) for r in self.relu if r])
            self.out = nn.Conv1d(hidden, num_pdfs, 1)
            self.drop = nn.Dropout(dropout)
            self.register_buffer("mean", torch.zeros(input_dim))
            self.register_buffer("std", torch.ones(input_dim))

        def forward(self, x):            # x: (B, T+2*CONTEXT, D) replicate-padded
            x = ((x[:, self.skip:] - self.mean) / self.std).transpose(1, 2)
            norms = iter(self.norms)
            for conv, relu in zip(self.convs, self.relu):
                x = conv(x)
                if relu:
                    x = self.drop(next(norms)(torch.relu(x)))
            return torch.log_softmax(self.out(x).float(), dim=1).transpose(1, 2)   # (B, n_out, P)

    return TDNN()


def num_outputs(frames: int) -> int:
    return (frames + 2) // 3


# Frames a `prepadded` utterance carries beyond its own: the CONTEXT frames either side that the
# network reads (+2 on the right, as pad_batch pads), computed by whoever made the features. A frozen
# body's outputs outside the utterance are not its edge frames repeated: libvosk computes them from
# the repeated edge *input* frames, so they are stored with the utterance (ko_body.body_features).
PREPAD = 2 * CONTEXT + 2


def frames_of(f: np.ndarray, prepadded: bool = False) -> int:
    """The utterance's own 10 ms frames (without the context frames a prepadded one carries)."""
    return len(f) - PREPAD if prepadded else len(f)


def pad_batch(feats: list[np.ndarray], prepadded: bool = False) -> np.ndarray:
    """Replicate-pad each utterance by CONTEXT frames (as nnet3 decodables do) to a common length.
    `prepadded` utterances already hold their CONTEXT (left) and CONTEXT + 2 (right) frames and are
    only lengthened to the batch's longest (the frames past an utterance's end are never scored)."""
    tmax = max(frames_of(f, prepadded) for f in feats)
    out = np.empty((len(feats), tmax + 2 * CONTEXT + 2, feats[0].shape[1]), np.float32)
    for i, f in enumerate(feats):
        f = f.astype(np.float32)
        extra = tmax - frames_of(f, prepadded)
        if prepadded:
            out[i] = np.concatenate([f, np.repeat(f[-1:], extra, 0)])
        else:
            out[i] = np.concatenate([np.repeat(f[:1], CONTEXT, 0), f, np.repeat(f[-1:], extra + CONTEXT + 2, 0)])
    return out


def batches(lengths: list[int], max_frames: int, rng: np.random.Generator) -> list[list[int]]:
    order = np.argsort(np.asarray(lengths) + rng.uniform(0, 30, len(lengths)))
    out, cur, cur_max = [], [], 0
    for i in order:
        n = num_outputs(lengths[i])
        if cur and max(cur_max, n) * (len(cur) + 1) > max_frames:
            out.append(cur)
            cur, cur_max = [], 0
        cur.append(int(i))
        cur_max = max(cur_max, n)
    if cur:
        out.append(cur)
    rng.shuffle(out)
    return out


def set_input_norm(model, feats: list[np.ndarray]) -> None:
    torch = _torch()
    allf = np.concatenate([f[::5].astype(np.float32) for f in feats])
    model.mean.copy_(torch.from_numpy(allf.mean(0)))
    model.std.copy_(torch.from_numpy(allf.std(0) + 1e-3))


def train_epochs(model, feats: list[np.ndarray], labels: list[np.ndarray], epochs: int, cfg: TrainConfig,
                 rng: np.random.Generator, lr_range: tuple[float, float], desc: str,
                 transform: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
                 extra_loss: Callable | None = None, prepadded: bool = False) -> float:
    """Cross-entropy training; learning rate decays log-linearly over the epochs. Returns last loss.

    `transform` (stored features, rng) -> network input is applied to every utterance each time it is
    used (feature-domain augmentation and normalisation); None feeds the stored features as they are.
    `extra_loss(logp, utterance indices, output frames per utterance)` -> a loss per output frame to
    add to the cross-entropy (discriminative training); logp is the batch's float32 log-posteriors.
    `prepadded`: the features carry their own context frames (pad_batch).
    """
    from tqdm import tqdm
    torch = _torch()
    torch.set_num_threads(cfg.threads)
    bf16 = cfg.bf16 and bf16_native()
    opt = torch.optim.Adam(model.parameters(), lr=lr_range[0], weight_decay=1e-6)
    lengths = [frames_of(f, prepadded) for f in feats]
    plan = [batches(lengths, cfg.batch_frames, rng) for _ in range(epochs)]
    total = sum(len(p) for p in plan)
    step, loss_avg, extra_avg = 0, float("nan"), float("nan")
    model.train()
    bar = tqdm(total=total, desc=desc + (" (bf16)" if bf16 else ""), unit="batch")
    for ep in range(epochs):
        for b in plan[ep]:
            frac = step / max(1, total - 1)
            for g in opt.param_groups:
                g["lr"] = math.exp(math.log(lr_range[0]) * (1 - frac) + math.log(lr_range[1]) * frac)
            x = torch.from_numpy(pad_batch([transform(feats[i], rng) if transform else feats[i] for i in b],
                                           prepadded))
            n = max(num_outputs(lengths[i]) for i in b)
            y = np.full((len(b), n), -100, np.int64)
            for k, i in enumerate(b):
                y[k, : len(labels[i])] = labels[i]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logp = model(x)[:, :n]
            logp = logp.float()
            loss = torch.nn.functional.nll_loss(logp.reshape(-1, logp.shape[-1]), torch.from_numpy(y).reshape(-1),
                                                ignore_index=-100)
            if cfg.label_smoothing > 0:
                mask = torch.from_numpy(y.reshape(-1) >= 0)
                smooth = -logp.reshape(-1, logp.shape[-1])[mask].mean()
                loss = (1 - cfg.label_smoothing) * loss + cfg.label_smoothing * smooth
            if extra_loss is not None:
                extra = extra_loss(logp, b, [num_outputs(lengths[i]) for i in b])
                e = float(extra.detach())
                extra_avg = e if math.isnan(extra_avg) else 0.98 * extra_avg + 0.02 * e
                loss = loss + extra
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            v = float(loss.detach())
            loss_avg = v if math.isnan(loss_avg) else 0.98 * loss_avg + 0.02 * v
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss_avg:.3f}", **({"mmi": f"{extra_avg:.4f}"} if extra_loss else {}))
    bar.close()
    return loss_avg


def log_posteriors(model, feats: list[np.ndarray], max_frames: int = 30000,
                   prepadded: bool = False) -> list[np.ndarray]:
    torch = _torch()
    model.eval()
    out: list[np.ndarray | None] = [None] * len(feats)
    lengths = [frames_of(f, prepadded) for f in feats]
    with torch.no_grad():
        for b in batches(lengths, max_frames, np.random.default_rng(0)):
            lp = model(torch.from_numpy(pad_batch([feats[i] for i in b], prepadded))).numpy()
            for k, i in enumerate(b):
                out[i] = lp[k, : num_outputs(lengths[i])]
    model.train()
    return out  # type: ignore[return-value]


def export_layers(model) -> list[Layer]:
    """Fold input normalisation and BatchNorms into plain affine layers (offset-major columns).
    A factorised layer exports as two: `tdnnN.linear` (no bias, no ReLU) and `tdnnN` (ReLU)."""
    convs = list(model.convs) + [model.out]
    relus = list(model.relu) + [False]
    offsets_of = list(model.offsets) + [[0]]
    layers: list[Layer] = []
    scale = (1.0 / model.std).detach().numpy().astype(np.float64)
    shift = (-model.mean / model.std).detach().numpy().astype(np.float64)
    norms = iter(model.norms)
    n = 0
    for li, conv in enumerate(convs):
        w = conv.weight.detach().numpy().astype(np.float64)       # (out, in, k)
        b = np.zeros(w.shape[0]) if conv.bias is None else conv.bias.detach().numpy().astype(np.float64)
        b = b + np.einsum("oik,i->o", w, shift)
        w = w * scale[None, :, None]
        if relus[li]:
            bn = next(norms)
            s = (bn.weight / (bn.running_var + bn.eps).sqrt()).detach().numpy().astype(np.float64)
            scale = s
            shift = (bn.bias.detach().numpy() - bn.running_mean.detach().numpy() * s).astype(np.float64)
        else:
            scale, shift = np.ones(w.shape[0]), np.zeros(w.shape[0])
        if li == len(convs) - 1:
            name = "output.affine"
        elif relus[li]:
            n += 1
            name = f"tdnn{n}"
        else:
            name = f"tdnn{n + 1}.linear"
        mat = np.transpose(w, (0, 2, 1)).reshape(w.shape[0], -1)
        layers.append(Layer(name=name, input="", offsets=offsets_of[li], weight=mat.astype(np.float32),
                            bias=b.astype(np.float32), relu=relus[li]))
    return layers


def forward_exported(layers: list[Layer], feats: np.ndarray) -> np.ndarray:
    """numpy reference of what nnet3 computes from the exported layers (used to check the export)."""
    x = np.concatenate([np.repeat(feats[:1], CONTEXT, 0), feats, np.repeat(feats[-1:], CONTEXT + 2, 0)]).astype(np.float64)
    n = num_outputs(len(feats))
    # evaluate every layer at every 10 ms frame of the padded range for simplicity
    h = x
    for layer in layers:
        lo, hi = -min(layer.offsets), max(layer.offsets)
        T = len(h) - lo - hi
        cat = np.concatenate([h[lo + o: lo + o + T] for o in layer.offsets], axis=1)
        h = cat @ layer.weight.T.astype(np.float64) + layer.bias
        if layer.relu:
            h = np.maximum(h, 0)
        h = np.concatenate([np.zeros((lo, h.shape[1])), h, np.zeros((hi, h.shape[1]))])
    h = h[CONTEXT: CONTEXT + 3 * n: 3]
    h = h - h.max(1, keepdims=True)
    return h - np.log(np.exp(h).sum(1, keepdims=True))


def viterbi_align(logp: np.ndarray, pdfs: list[int], optional: list[bool]) -> np.ndarray | None:
    """Best state path through a left-to-right sequence (each state: stay or advance; optional states
    may be skipped). Returns the pdf of each frame, or None if the frames are too few."""
    n, S = len(logp), len(pdfs)
    pdfs_a = np.asarray(pdfs)
    opt = np.asarray(optional)
    if n < int((~opt).sum()):
        return None
    NEG = -1e30
    skip_ok = np.zeros(S, bool)
    skip_ok[2:] = opt[1:-1]
    score = np.full(S, NEG)
    score[0] = logp[0, pdfs_a[0]]
    if S > 1 and opt[0]:
        score[1] = logp[0, pdfs_a[1]]
    back = np.zeros((n, S), np.int8)
    for t in range(1, n):
        stay = score
        adv = np.concatenate([[NEG], score[:-1]])
        skp = np.where(skip_ok, np.concatenate([[NEG, NEG], score[:-2]]), NEG)
        best = np.maximum(np.maximum(stay, adv), skp)
        back[t] = np.where(best == stay, 0, np.where(best == adv, 1, 2))
        score = best + logp[t, pdfs_a]
    end = S - 1
    if S > 1 and opt[-1] and score[S - 2] > score[S - 1]:
        end = S - 2
    if score[end] < NEG / 2:
        return None
    path = np.empty(n, np.int64)
    s = end
    for t in range(n - 1, -1, -1):
        path[t] = s
        s -= int(back[t, s])
    return pdfs_a[path]
