"""Write a tiny but real Vosk v2 model directory that libvosk 0.3.45 loads.

One phone, one pdf, a 13-input network and a one-state word-loop graph: it recognises
nothing useful, but libvosk reads every file for real (Kaldi TransitionModel + nnet3 text,
OpenFst binary graphs), so tests of structure checks, loading and vocabulary lookup run
against the real library without waiting for a trained model. Both graph kinds:
static (graph/HCLG.fst) and lookahead (graph/HCLr.fst + graph/Gr.fst + disambig_tid.int).
The OpenFst files are written here byte by byte (vector FST, standard arcs), optionally
with the word list embedded as the output symbol table instead of graph/words.txt.
"""
from __future__ import annotations

import struct
from pathlib import Path

_FST_MAGIC = 2125659606
_SYMTAB_MAGIC = 2125658996
_HAS_OSYMBOLS = 0x2


def _string(s: str) -> bytes:
    raw = s.encode("utf-8")
    return struct.pack("<i", len(raw)) + raw


def _symbol_table(words: list[str]) -> bytes:
    entries = ["<eps>", *words]
    out = struct.pack("<i", _SYMTAB_MAGIC) + _string("words") + struct.pack("<qq", len(entries), len(entries))
    for key, sym in enumerate(entries):
        out += _string(sym) + struct.pack("<q", key)
    return out


def write_fst(path: Path, arcs: list[tuple[int, int]], osymbols: list[str] | None = None) -> None:
    """A one-state FST (start and final) with a self-loop arc per (ilabel, olabel)."""
    flags = _HAS_OSYMBOLS if osymbols is not None else 0
    header = (struct.pack("<i", _FST_MAGIC) + _string("vector") + _string("standard")
              + struct.pack("<iiQqqq", 2, flags, 0x3, 0, 1, len(arcs)))
    if osymbols is not None:
        header += _symbol_table(osymbols)
    body = struct.pack("<fq", 0.0, len(arcs))
    for ilabel, olabel in arcs:
        body += struct.pack("<iifi", ilabel, olabel, 0.0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + body)


_FINAL_MDL = """<TransitionModel>
<Topology>
<TopologyEntry>
<ForPhones>
1
</ForPhones>
<State> 0 <PdfClass> 0 <Transition> 0 0.5 <Transition> 1 0.5 </State>
<State> 1 </State>
</TopologyEntry>
</Topology>
<Tuples> 1
1 0 0 0
</Tuples>
<LogProbs>
 [ 0 -0.6931472 -0.6931472 ]
</LogProbs>
</TransitionModel>
<Nnet3> 
input-node name=input dim=13
component-node name=affine component=affine input=input
component-node name=logsm component=logsm input=affine
output-node name=output input=logsm objective=linear

<NumComponents> 2
<ComponentName> affine <FixedAffineComponent> <LinearParams> [
  0 0 0 0 0 0 0 0 0 0 0 0 0 ]
<BiasParams> [ 0 ]
</FixedAffineComponent>
<ComponentName> logsm <LogSoftmaxComponent> <Dim> 1 <ValueAvg> [ ]
<DerivAvg> [ ]
<Count> 0 </LogSoftmaxComponent>
</Nnet3>
<LeftContext> 0 <RightContext> 0 <Priors> [ ]
"""

_MODEL_CONF = """--min-active=10
--max-active=100
--beam=10.0
--lattice-beam=2.0
--acoustic-scale=1.0
--frame-subsampling-factor=3
--endpoint.silence-phones=1
"""

_MFCC_CONF = """--use-energy=false
--num-ceps=13
--sample-frequency=16000
"""


def write_tiny_model(root: Path, words: list[str], *, lookahead: bool = False,
                     embed_words: bool = False) -> Path:
    """Write the model into `root` (created) and return it.

    `lookahead`: HCLr.fst + Gr.fst + disambig_tid.int instead of HCLG.fst (a model that takes
    runtime grammars). `embed_words`: the word list lives in the main graph FST's output
    symbols and graph/words.txt is not written.
    """
    (root / "am").mkdir(parents=True, exist_ok=True)
    (root / "conf").mkdir(exist_ok=True)
    (root / "am/final.mdl").write_text(_FINAL_MDL)
    (root / "conf/model.conf").write_text(_MODEL_CONF)
    (root / "conf/mfcc.conf").write_text(_MFCC_CONF)
    word_arcs = [(1, i + 1) for i in range(len(words))] + [(2, 0)]
    graph = root / "graph"
    symbols = words if embed_words else None
    if lookahead:
        write_fst(graph / "HCLr.fst", [(1, 1), (2, 0)])
        write_fst(graph / "Gr.fst", [(i + 1, i + 1) for i in range(len(words))], symbols)
        (graph / "disambig_tid.int").write_text("3\n")
    else:
        write_fst(graph / "HCLG.fst", word_arcs, symbols)
    if not embed_words:
        lines = ["<eps> 0", *(f"{w} {i + 1}" for i, w in enumerate(words))]
        (graph / "words.txt").write_text("\n".join(lines) + "\n")
    return root
