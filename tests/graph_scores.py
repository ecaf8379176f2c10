"""Score waves on a built model's phrase and garbage loops as discriminative training does.

    python tests/graph_scores.py MODEL_DIR WAVES.npz "ANSWER WORDS" PLAIN_DIR FILLER_DIR

WAVES.npz holds int16 arrays named w0, w1, ...; prints one JSON object: for each wave the Viterbi
and forward scores of the "all" context's phrase loop and garbage loop (models.build.discriminative);
for the first two waves (the answer and unknown speech) the margin before and after a few gradient
steps of the boosted MMI loss on the network's log-posteriors; and for the answer its lead over the
other answers' rival loop under steps with and without `MmiConfig.separate`'s term. PLAIN_DIR gets a
copy of the model whose "all" graph is those two loops alone, at the model's costs: no fillers, no
groups, which the built graphs add at decoding time. Each wave is also scored on the phrase loop with
the model's fillers (`MmiConfig.filler_cost`), and FILLER_DIR gets the copy whose graph has them
(still no groups, which discriminative training does not model), both at FILLER_COST.
Runs in its own process: torch and libvosk must not share one (their thread pools can deadlock).
"""
from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

# free fillers, so that the tiny network's best paths take them (at the built cost of 8 it never does)
FILLER_COST = 0.0


def main(model_dir: Path, waves: Path, answer_words: list[str]) -> dict:
    import numpy as np
    import torch
    from bench.ceiling import read_units_lexicon
    from models.build import discriminative as D
    from models.build.__main__ import TINY, align_sequence, floored_priors, scaled_priors
    from models.build.features import NUM_CEPS, mfcc, online_cmn
    from models.build.lexicon import Lexicon
    from models.build.nnet import log_posteriors, make_model

    manifest = json.loads((model_dir / "manifest.json").read_text())
    work = model_dir.parent / (model_dir.name + ".work")
    phones = manifest["phones"]
    pdf = {p: i for i, p in enumerate(phones)}
    model = make_model(NUM_CEPS, len(phones), TINY.train.hidden)
    model.load_state_dict(torch.load(work / "network.pt"))
    mean = np.load(work / "cmvn.npz")["mean"]
    prons = read_units_lexicon(model_dir / "graph" / "lexicon.txt")
    c = manifest["graph_costs"]
    assert c["unk_phone_cost"] == 0.0, c        # make_competition's garbage loop, as every build tunes it
    # the answers' rival loops are built too; the separation term acts only where intents are given
    cfg = D.MmiConfig(prior_scale=manifest["prior_scale"], unk_cost=c["unk_cost"],
                      next_phrase_cost=c["next_phrase_cost"], phrase_cost=c["phrase_cost"], separate=("yes", "no"))
    intent_of = {p: i for i, ps in manifest["vocabulary"]["phrases"].items() for p in ps}
    comp = D.make_competition(manifest["contexts"]["all"], prons, pdf, manifest["garbage_phones"],
                              scaled_priors(floored_priors(np.load(work / "phone_counts.npy")), cfg.prior_scale), cfg,
                              intent_of)
    data = np.load(waves)
    audio = [data[f"w{i}"] for i in range(len(data.files))]
    lps = log_posteriors(model, [online_cmn(mfcc(a.astype(np.float32)), mean).astype(np.float32) for a in audio])
    out: dict = {"scores": []}
    for lp in lps:
        x = torch.from_numpy(lp).unsqueeze(0) - comp.log_prior
        row = {}
        for name, g in (("phrases", comp.phrases), ("garbage", comp.garbage)):
            for viterbi in (True, False):
                row[f"{name}_{'viterbi' if viterbi else 'forward'}"] = float(
                    D.forward_scores(x, [x.shape[1]], g, viterbi=viterbi)[0])
        out["scores"].append(row)
    fillers = (manifest["vocabulary"]["fillers"]["before"], manifest["vocabulary"]["fillers"]["after"])
    wrapped = D.make_competition(manifest["contexts"]["all"], prons, pdf, manifest["garbage_phones"],
                                 scaled_priors(floored_priors(np.load(work / "phone_counts.npy")), cfg.prior_scale),
                                 replace(cfg, filler_cost=FILLER_COST), intent_of, fillers)
    for lp, row in zip(lps, out["scores"]):
        x = torch.from_numpy(lp).unsqueeze(0) - comp.log_prior
        row["wrapped_viterbi"] = float(D.forward_scores(x, [x.shape[1]], wrapped.phrases, viterbi=True)[0])

    def steps(lp, measure, ref, intents=None) -> tuple[list[float], float]:
        """`measure` of the frame scores before each of 4 small gradient steps of the MMI loss (a boost
        no margin meets, so the loss always acts; small steps, so each follows the gradient)."""
        logp = torch.from_numpy(lp).unsqueeze(0).clone().requires_grad_(True)
        seen = []
        for _ in range(4):
            x = logp - comp.log_prior
            seen.append(float(measure(x, [x.shape[1]])))
            loss = D.mmi_loss(logp, [x.shape[1]], [ref], comp, boost=200.0, intents=intents)
            logp.grad = None
            loss.backward()
            with torch.no_grad():
                logp -= 0.05 * logp.grad
        return seen, float(loss)

    # the loss must move the decision the right way: an answer away from garbage, unknown speech toward it
    lex = Lexicon(prons=prons)
    pdfs, opt = align_sequence(answer_words, lex, pdf)
    ref = D.chain_graph(pdfs, opt, c["phrase_cost"])

    def margin(x, n):
        return D.forward_scores(x, n, comp.phrases) - D.forward_scores(x, n, comp.garbage)

    for k, r in ((0, ref), (1, None)):
        margins, loss = steps(lps[k], margin, r)
        out["answer" if r is not None else "unknown"] = {"margins": margins, "loss": loss}
    # with MmiConfig.separate, the answer must also pull away from the other answers' phrases: its
    # reference's lead over the rival loop ("yes" against "no") grows faster than without that term
    intent = intent_of[" ".join(answer_words)]
    ref_t, rival = D.TorchGraph(ref), comp.rivals[intent]

    def lead(x, n):
        return D.forward_scores(x, n, [ref_t]) - D.forward_scores(x, n, rival)

    for name, intents in (("separated", [intent]), ("plain", None)):
        out[name] = {"leads": steps(lps[0], lead, ref, intents)[0]}
    return out


def write_plain_model(model_dir: Path, out: Path, fillers: bool = False) -> None:
    """`model_dir` copied to `out` with its "all" graph rebuilt as the phrase loop and garbage loop only
    (`fillers`: with the model's fillers around the phrases, as its own graph has them)."""
    import shutil
    from bench.ceiling import read_units_lexicon
    from models.build import kaldi_format as kf
    from models.build.graph import GraphCosts, build_hclg
    manifest = json.loads((model_dir / "manifest.json").read_text())
    shutil.copytree(model_dir, out)
    prons = read_units_lexicon(model_dir / "graph" / "lexicon.txt")
    costs = replace(GraphCosts(**manifest["graph_costs"]), runs_in_groups=False, filler_cost=FILLER_COST)
    wrap = manifest["vocabulary"]["fillers"] if fillers else {}
    phone_ids = {p: i + 1 for i, p in enumerate(manifest["phones"])}
    fst, syms = build_hclg(manifest["contexts"]["all"], prons, phone_ids, costs,
                           garbage_phones=manifest["garbage_phones"], **wrap)
    fst.write(str(out / "graph" / "HCLG.fst"))
    (out / "graph" / "words.txt").write_text(kf.symbols_text(syms))


if __name__ == "__main__":
    result = main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3].split())
    write_plain_model(Path(sys.argv[1]), Path(sys.argv[4]))
    write_plain_model(Path(sys.argv[1]), Path(sys.argv[5]), fillers=True)
    print(json.dumps(result))
