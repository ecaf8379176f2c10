"""The model recipe really builds a libvosk model from nothing (--tiny: yes/no/stop, small data).

Runs `python -m models.build --tiny` as a user would, then decodes freshly synthesised speech with
the real vosk.Model / KaldiRecognizer.
"""
from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from models.answer_model import load_manifest, recognize, verify_manifest
from models.build.augment import eval_condition
from models.build.tts import Voice, synth_many
from voice.recognizer import best_log_likelihood

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "model"
    r = subprocess.run([sys.executable, "-m", "models.build", "--tiny", "--seed", "5", "--out", str(out),
                        "--reuse-data", str(out.parent / "speech.pkl")],
                       cwd=REPO, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "training speech saved to" in r.stderr
    return out


def test_tiny_build_writes_a_complete_model_with_a_true_manifest(tiny_model: Path) -> None:
    for rel in ("am/final.mdl", "am/global_cmvn.stats", "conf/mfcc.conf", "conf/model.conf", "graph/HCLG.fst",
                "graph/words.txt"):
        assert (tiny_model / rel).is_file(), rel
    manifest = load_manifest(tiny_model)
    assert manifest["tiny"] is True
    assert manifest["vocabulary"]["words"] == ["no", "stop", "yes"]   # first phrases of yes/no/stop in the YAML
    assert manifest["training_data"]["utterances"] > 500
    assert manifest["network"]["mmi"]["epochs"] == 1        # the tiny recipe runs the discriminative stage too
    assert manifest["network"]["mmi"]["separate"] == ["yes", "no"]
    check = verify_manifest(tiny_model)
    assert check.ok, check.problems
    words = (tiny_model / "graph" / "words.txt").read_text().split()
    assert "[unk]" in words and "yes" in words
    # fillers.yaml's hesitations and courtesies are words of the graphs, listed in the manifest
    fillers = manifest["vocabulary"]["fillers"]
    assert "um" in fillers["before"] and "please" in fillers["after"]
    assert {"um", "please", "thank", "you"} <= set(words)
    assert manifest["graph_costs"]["filler_cost"] == 8.0


def test_tiny_model_decodes_synthesised_words_through_libvosk(tiny_model: Path) -> None:
    import vosk
    vosk.SetLogLevel(-1)
    model = vosk.Model(str(tiny_model))
    words = ["yes", "no", "stop"]
    heard = {}
    for voice in (Voice("espeak", "en-us"), Voice("espeak", "en", "m3")):
        for w, x in zip(words, synth_many(voice, words)):
            audio = eval_condition(np.random.default_rng(len(heard)), x, snr_db=None)
            heard[(voice.label, w)] = recognize(model, audio)
    wrong = {k: v for k, v in heard.items() if v != k[1]}
    assert not wrong, f"misrecognised: {wrong}"


def test_same_seed_gives_the_same_training_texts() -> None:
    """Determinism: the data plan depends on the seed only."""
    import random
    from models.build.corpus import load_vocabulary
    from models.build.data import DataPlan, make_jobs, negative_pool
    vocab = load_vocabulary()
    plan = DataPlan(utterances=50)
    a = make_jobs(vocab, 11, plan, negative_pool(vocab, random.Random(11), 100))
    b = make_jobs(vocab, 11, plan, negative_pool(vocab, random.Random(11), 100))
    c = make_jobs(vocab, 12, plan, negative_pool(vocab, random.Random(12), 100))
    key = lambda jobs: json.dumps([(j.voice.label, j.voice.rate, j.texts) for j in jobs])  # noqa: E731
    assert key(a) == key(b)
    assert key(a) != key(c)


def unwrap(words: list[str], fillers: tuple[list[str], list[str]]) -> tuple[str | None, str, str | None]:
    """A wrapped text split into (hesitation or None, the phrase, courtesy or None)."""
    text = " ".join(words)
    lead = next((f for f in fillers[0] if text.startswith(f + " ")), None)
    tail = next((f for f in fillers[1] if text.endswith(" " + f)), None)
    return lead, text[len(lead) + 1 if lead else 0:len(text) - (len(tail) + 1 if tail else 0)], tail


def test_wrapped_answers_and_interjections_are_added_after_the_plans_own_jobs() -> None:
    """The extra texts come after every job of the plan without them, which stay as they were (so
    --reuse-data synthesises only the new ones); wrapped texts are a phrase with fillers, kind mix."""
    import random
    from dataclasses import replace
    from models.build.corpus import load_fillers, load_vocabulary
    from models.build.data import INTERJECTIONS, DataPlan, make_jobs, negative_pool
    vocab = load_vocabulary()
    fillers = load_fillers(vocab)
    negatives = negative_pool(vocab, random.Random(11), 100)
    plan = DataPlan(utterances=96, texts_per_job=24)
    base = make_jobs(vocab, 11, plan, negatives, fillers=fillers)
    more = make_jobs(vocab, 11, replace(plan, wrapped=40, interjections=8), negatives, fillers=fillers)
    key = lambda j: (j.index, repr(j.voice), j.texts, j.kinds)  # noqa: E731
    assert [key(j) for j in more[:len(base)]] == [key(j) for j in base]
    extra = [(t, k) for j in more[len(base):] for t, k in zip(j.texts, j.kinds)]
    assert len(extra) == 48 and [j.index for j in more] == list(range(len(more)))
    phrases = vocab.all_phrases()
    for words, kind in extra:
        if kind == "oov":
            assert any(w in INTERJECTIONS for w in words) and len(words) <= 2
            continue
        assert kind == "mix"
        lead, core, tail = unwrap(words, fillers)
        assert lead or tail, words
        assert core in phrases, words
    assert sum(k == "oov" for _, k in extra) == 8


def test_wrapped_yes_no_share_draws_the_answers_people_wrap_most() -> None:
    """wrapped_yes_no=1 wraps only yes/no phrases ("no thank you"); at 0 the texts are exactly the
    texts of a plan without the option, so earlier saved speech stays reusable."""
    import random
    from models.build.corpus import load_fillers, load_vocabulary
    from models.build.data import wrapped_texts
    vocab = load_vocabulary()
    fillers = load_fillers(vocab)
    answers = set(vocab.phrases["yes"]) | set(vocab.phrases["no"])
    core = lambda words: unwrap(words, fillers)[1]  # noqa: E731
    plain = wrapped_texts(vocab, random.Random(5), 200, fillers)
    assert wrapped_texts(vocab, random.Random(5), 200, fillers, yes_no=0.0) == plain
    assert sum(core(w) in answers for w, _ in plain) < 100      # most wrap other phrases
    only = wrapped_texts(vocab, random.Random(5), 200, fillers, yes_no=1.0)
    assert all(k == "mix" for _, k in only)
    cores = {core(w) for w, _ in only}
    assert cores <= answers and {"yes", "no"} <= cores


def test_tiny_model_never_mixes_phrases_and_unknown_speech(tiny_model: Path) -> None:
    """The graph makes an utterance either phrases or [unk]: "yesterday" must not come out as
    "yes [unk]" (the dialog would take that as a yes)."""
    import vosk
    vosk.SetLogLevel(-1)
    assert load_manifest(tiny_model)["graph_costs"]["unk_with_phrases"] is False
    model = vosk.Model(str(tiny_model))
    texts = ["yesterday", "nobody", "stopwatch", "yes tomorrow", "the weather is nice"]
    for voice in (Voice("espeak", "en-us"), Voice("espeak", "en", "f2")):
        for t, x in zip(texts, synth_many(voice, texts)):
            heard = recognize(model, eval_condition(np.random.default_rng(3), x, snr_db=None)).split()
            assert "[unk]" not in heard or set(heard) == {"[unk]"}, f"{voice.label} {t!r} -> {heard}"


def test_tiny_model_keeps_a_run_of_phrases_to_the_answers_or_to_stop(tiny_model: Path) -> None:
    """Runs in groups: an answer and "stop" never share an utterance, whatever is said ("yes stop"
    comes out as one of them, or [unk]), while an answer said twice still can."""
    import vosk
    vosk.SetLogLevel(-1)
    assert load_manifest(tiny_model)["graph_costs"]["runs_in_groups"] is True
    model = vosk.Model(str(tiny_model))
    texts = ["yes stop", "stop no", "no stop stop", "yes yes stop"]
    for voice in (Voice("espeak", "en-us"), Voice("espeak", "en", "m3")):
        for t, x in zip(texts, synth_many(voice, texts)):
            heard = set(recognize(model, eval_condition(np.random.default_rng(4), x, snr_db=None)).split())
            assert not ("stop" in heard and heard & {"yes", "no"}), f"{voice.label} {t!r} -> {heard}"


def test_retune_reuses_the_trained_network_and_rewrites_a_true_manifest(tiny_model: Path, tmp_path: Path) -> None:
    import shutil
    out = tmp_path / "model"
    shutil.copytree(tiny_model, out)
    shutil.copytree(tiny_model.parent / (tiny_model.name + ".work"), tmp_path / "model.work")
    r = subprocess.run([sys.executable, "-m", "models.build", "--tiny", "--seed", "5", "--retune", "--out", str(out)],
                       cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "no synthesis, no training" in r.stderr
    manifest = load_manifest(out)
    assert manifest["retuned"] is True
    assert manifest["training_data"] == load_manifest(tiny_model)["training_data"]
    assert verify_manifest(out).ok


def test_retune_without_an_earlier_build_says_what_to_do(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "models.build", "--tiny", "--retune", "--out", str(tmp_path / "m")],
                       cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    assert "no earlier build to re-tune" in r.stderr and "without --retune" in r.stderr


def test_human_dev_clips_are_dev_speakers_oov_only(tmp_path: Path) -> None:
    """--human-dev tunes on real people's OOV clips of the dev speakers only, never on a clip that
    holds a vocabulary phrase, and says how to get the folder when it is missing."""
    import wave
    from models.build.__main__ import HUMAN_UNK, human_dev_audio
    from models.build.corpus import load_vocabulary
    clips = []
    for i, (speaker, transcript) in enumerate([("hedgewars-Pirate", "fire in the hole"),
                                               ("hedgewars-Pirate", "yes sir"),
                                               ("asterisk-allison", "goodbye for now")]):
        path = tmp_path / f"{i}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes((np.sin(np.arange(4000) / 5.0) * 3000).astype("<i2").tobytes())
        clips.append({"path": path.name, "transcript": transcript, "speaker": speaker})
    (tmp_path / "manifest.json").write_text(json.dumps({"clips": clips}))
    got = human_dev_audio(tmp_path, load_vocabulary())
    assert len(got) == 1 and got[0][1] == HUMAN_UNK
    assert abs(len(got[0][0]) - 8000) <= 2          # 0.5 s resampled from 8 kHz to 16 kHz
    with pytest.raises(SystemExit, match="bench.human_speech"):
        human_dev_audio(tmp_path / "missing", load_vocabulary())


def _write_wav(path: Path, x: np.ndarray, rate: int = 16000) -> None:
    import wave
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.clip(x, -32768, 32767).astype("<i2").tobytes())


def test_human_train_recordings_are_training_speakers_only_and_become_augmented_features(tmp_path: Path) -> None:
    """--human-train takes only the training speakers' clips (never a dev or test speaker), keeps the
    transcript as the clip's words, and augments each recording `copies` times, deterministically."""
    from models.build.__main__ import HUMAN_TRAIN_SPEAKERS, human_train_recordings
    from models.build.corpus import load_vocabulary
    from models.build.data import recorded_jobs, run_job
    rows = [("asterisk-allison", "no"), ("asterisk-allison", "please try again"),
            ("asterisk-allison", "the mailbox is full"), ("hedgewars-Pirate", "yes sir"), ("klettres-en", "a")]
    waves = synth_many(Voice("espeak", "en-us"), [t for _, t in rows])
    clips = []
    for i, ((speaker, transcript), x) in enumerate(zip(rows, waves)):
        _write_wav(tmp_path / f"{i}.wav", x)
        clips.append({"path": f"{i}.wav", "transcript": transcript, "speaker": speaker})
    (tmp_path / "manifest.json").write_text(json.dumps({"clips": clips}))
    recs = human_train_recordings(tmp_path, load_vocabulary())
    assert all(r.speaker.startswith(HUMAN_TRAIN_SPEAKERS) for r in recs)
    assert [(r.words, r.kind) for r in recs] == [(("no",), "inv"), (("please", "try", "again"), "mix"),
                                                  (("the", "mailbox", "is", "full"), "sent")]
    jobs = recorded_jobs(recs, seed=3, copies=2, first_index=10)
    utts = run_job(jobs[0])
    assert [u.words for u in utts] == [["no"], ["no"], ["please", "try", "again"], ["please", "try", "again"],
                                       ["the", "mailbox", "is", "full"], ["the", "mailbox", "is", "full"]]
    assert {u.voice for u in utts} == {"recorded:asterisk-allison"}
    assert all(u.feats.shape[1] == 40 and 0 <= u.bounds[0] < u.bounds[1] <= len(u.feats) for u in utts)
    assert not np.array_equal(utts[0].feats, utts[1].feats)          # two different conditions
    again = run_job(recorded_jobs(recs, seed=3, copies=2, first_index=10)[0])
    assert all(np.array_equal(a.feats, b.feats) for a, b in zip(utts, again))
    with pytest.raises(SystemExit, match="bench.human_speech"):
        human_train_recordings(tmp_path / "missing", load_vocabulary())


def test_benchmarks_leave_out_the_speakers_a_model_was_trained_on(tmp_path: Path) -> None:
    """A speaker the manifest lists under training_data.recorded is never scored as held out."""
    import shutil
    from bench.accuracy import run_human
    from models.answer_model import trained_speakers
    model = tmp_path / "model"
    shutil.copytree(REPO / "models" / "answer-model", model)
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["training_data"]["recorded"] = {"utterances": 8, "speakers": ["asterisk-allison"]}
    (model / "manifest.json").write_text(json.dumps(manifest))
    assert trained_speakers(model) == ["asterisk-allison"]
    assert trained_speakers(tmp_path / "no-model") == []
    speech = tmp_path / "speech"
    speech.mkdir()
    waves = synth_many(Voice("espeak", "en-us"), ["no", "no", "the mailbox is full"])
    clips = []
    for i, (speaker, x) in enumerate(zip(["asterisk-allison", "klettres-en", "klettres-en"], waves)):
        _write_wav(speech / f"{i}.wav", x)
        clips.append({"path": f"{i}.wav", "transcript": ["no", "no", "the mailbox is full"][i], "speaker": speaker,
                      "in_vocabulary": i < 2, "contains_phrases": []})
    (speech / "manifest.json").write_text(json.dumps({"clips": clips}))
    r = run_human(model, speech)
    assert r["excluded_speakers"] == ["asterisk-allison"]
    assert (r["clips_in_vocabulary"], r["clips_oov"]) == (1, 1)
    assert set(r["accuracy_by_speaker"]) == {"klettres-en"}


def test_product_turns_hear_answers_as_the_listening_loop_does() -> None:
    """bench.accuracy's product turns go through the listener, the answer-context graph and the
    meaning-based confidence: a clear "yes" and "no" come back as those answers with a confidence."""
    from bench.accuracy import product_turns
    from dialog import Interpreter
    from dialog.vocabulary import load_vocabulary
    waves = [eval_condition(np.random.default_rng(1), x, None)
             for x in synth_many(Voice("espeak", "en-us"), ["yes", "no", "repeat"])]
    turns = product_turns(REPO / "models" / "answer-model", waves)
    interpret = Interpreter(load_vocabulary())
    assert [interpret(t).intent for t, _ in turns] == ["yes", "no", "repeat"]
    assert all(c is not None and 0.0 < c <= 1.0 for _, c in turns)


def test_tiny_build_scores_answers_against_a_garbage_only_graph(tiny_model: Path) -> None:
    """The build writes a graph holding only the [unk] loop and calibrates the answer confidence
    on development speech: the product's recogniser hears a clear word with a large margin over
    unknown speech (and a confidence from the manifest's calibration), unknown speech with none."""
    import vosk
    from models.answer_model import model_dir
    from voice.modelset import ContextGraphs
    from voice.recognizer import MarginCalibration, VoskRecognizer
    vosk.SetLogLevel(-1)
    manifest = load_manifest(tiny_model)
    conf = manifest["confidence"]
    assert conf["read_back_share"] == 0.05 and conf["dev_answers"] >= 5
    cal = MarginCalibration.from_manifest(conf)
    assert abs(cal.confidence(conf["margin_at_threshold"]) - conf["threshold"]) < 1e-3
    words = (tiny_model / "graphs" / "garbage" / "words.txt").read_text().split()
    assert "[unk]" in words and "yes" not in words
    texts = ["yes", "no", "elephant"]
    waves = [eval_condition(np.random.default_rng(2), x, None) for x in synth_many(Voice("espeak", "en-us"), texts)]
    garbage = vosk.Model(str(model_dir("garbage", tiny_model)))
    assert [recognize(garbage, x) for x in waves] == ["[unk]"] * 3
    models = ContextGraphs(tiny_model)
    assert models.calibration == cal
    rec = VoskRecognizer(models)
    heard = []
    for x in waves:
        rec.begin(["yes", "no", "stop"])
        rec.accept(np.clip(x, -32768, 32767).astype("<i2").tobytes())
        heard.append(rec.result())
    assert [h.text for h in heard[:2]] == ["yes", "no"]
    assert all(h.margin is not None and h.margin > 5.0 for h in heard[:2]), [h.margin for h in heard]
    assert all(h.confidence == pytest.approx(min(1.0, cal.confidence(h.margin)), abs=1e-5) for h in heard[:2])
    assert heard[2].text == "[unk]" and heard[2].margin is not None and abs(heard[2].margin) < 5.0


def test_reuse_data_trains_on_the_saved_speech_and_refuses_a_foreign_file(tiny_model: Path, tmp_path: Path) -> None:
    saved = tiny_model.parent / "speech.pkl"
    r = subprocess.run([sys.executable, "-m", "models.build", "--tiny", "--seed", "5", "--out", str(tmp_path / "m"),
                        "--reuse-data", str(saved)], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert re.search(rf"training speech: (\d+) of \1 jobs reused from {re.escape(str(saved))}", r.stderr)
    assert "synthesise+augment" not in r.stderr
    assert load_manifest(tmp_path / "m")["training_data"] == load_manifest(tiny_model)["training_data"]
    foreign = tmp_path / "foreign.pkl"
    foreign.write_bytes(pickle.dumps(("a jobs key", [])))
    other = subprocess.run([sys.executable, "-m", "models.build", "--tiny", "--seed", "5", "--out", str(tmp_path / "o"),
                            "--reuse-data", str(foreign)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert other.returncode != 0
    assert str(foreign) in other.stderr and "not a --reuse-data file of this version" in other.stderr
    assert "Traceback" not in other.stderr


def test_an_interrupted_build_resumes_after_its_last_stage_and_trains_the_same_network(tiny_model: Path,
                                                                                        tmp_path: Path) -> None:
    """A build killed mid-training (a session ending, a power cut) continues with --resume from its last
    finished stage and ends with the very model an uninterrupted build makes."""
    out = tmp_path / "m"
    cmd = [sys.executable, "-m", "models.build", "--tiny", "--seed", "5", "--out", str(out),
           "--reuse-data", str(tiny_model.parent / "speech.pkl")]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    info = tmp_path / "m.work" / "checkpoint.json"
    deadline = time.monotonic() + 600
    while not info.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.kill()
    proc.wait()
    assert json.loads(info.read_text())["stage"] == 1        # killed during the second of three stages
    assert not (out / "manifest.json").exists()
    r = subprocess.run(cmd + ["--resume"], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resuming after training stage 1 of 3" in r.stderr and "train stage 1/2" not in r.stderr
    assert load_manifest(out)["files"] == load_manifest(tiny_model)["files"]   # bit for bit the same model

    (tmp_path / "m.work" / "checkpoint.pt").write_text("not a checkpoint")
    bad = subprocess.run(cmd + ["--resume"], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert bad.returncode != 0 and "unreadable checkpoint" in bad.stderr and "Traceback" not in bad.stderr
    both = subprocess.run(cmd + ["--resume", "--retune"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert both.returncode == 2 and "choose one" in both.stderr


def test_reuse_data_synthesises_only_the_jobs_it_has_not_saved(tmp_path: Path) -> None:
    """Two data plans that share most jobs (the same plan with a few jobs re-voiced) share their speech."""
    code = textwrap.dedent("""
        import sys
        from pathlib import Path
        import numpy as np
        from models.build.__main__ import TINY, prepare, synthesise
        jobs = prepare(TINY, 5, True).jobs[:3]
        f = Path(sys.argv[1])
        first = synthesise(jobs[:2], f)
        both = synthesise(jobs, f)
        again = synthesise(jobs, f)
        same = all(np.array_equal(a.feats, b.feats) for a, b in zip(first, both))
        print(len(first), len(both), len(again), same,
              all(np.array_equal(a.feats, b.feats) and a.words == b.words for a, b in zip(both, again)))
    """)
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "speech.pkl")], cwd=REPO, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    n_first, n_both, n_again, same, identical = r.stdout.split()
    assert 0 < int(n_first) < int(n_both) == int(n_again) and same == identical == "True"
    log = r.stderr
    assert "0 of 2 jobs reused" in log and "2 of 3 jobs reused" in log and "3 of 3 jobs reused" in log
    assert log.count("training speech saved to") == 2     # nothing new to save the third time


def test_speech_finished_before_a_failure_is_kept_for_the_next_run(tmp_path: Path) -> None:
    """A build stopped during synthesis (a session's end, a voice that fails) loses at most one
    save interval: with --reuse-data the finished jobs are on disk, and the next run synthesises
    only the rest, to the same speech as a run never stopped."""
    code = textwrap.dedent("""
        import sys
        from pathlib import Path
        import numpy as np
        import models.build.data as D
        from models.build.__main__ import TINY, prepare, synthesise
        jobs = prepare(TINY, 5, True).jobs[:4]
        f = Path(sys.argv[1])
        real = D.run_job
        def flaky(job):
            if job.index == jobs[2].index:
                raise RuntimeError("voice failed")
            return real(job)
        D.run_job = flaky
        try:
            synthesise(jobs, f, save_seconds=0.0)
        except RuntimeError:
            print("stopped", end=" ")
        D.run_job = real
        resumed = synthesise(jobs, f)
        whole = synthesise(jobs, None)
        print(len(resumed), len(whole), all(np.array_equal(a.feats, b.feats) and a.words == b.words
                                            for a, b in zip(resumed, whole)))
    """)
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "speech.pkl")], cwd=REPO, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    stopped, n_resumed, n_whole, identical = r.stdout.split()
    assert stopped == "stopped" and int(n_resumed) == int(n_whole) > 0 and identical == "True"
    assert "training speech so far saved to" in r.stderr
    assert "2 of 4 jobs reused" in r.stderr            # the two finished before the failure


def test_a_factorised_network_decodes_in_libvosk_as_its_plain_twin(tiny_model: Path, tmp_path: Path) -> None:
    """Bottleneck layers export as two nnet3 affines (`tdnnN.linear`, then `tdnnN`): a factorised
    network that computes the same function as the built one must make libvosk hear the same words
    with the same path likelihoods."""
    import vosk
    twin = tmp_path / "twin"
    r = subprocess.run([sys.executable, str(REPO / "tests" / "factorised_twin.py"), str(tiny_model), str(twin)],
                       cwd=REPO, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.splitlines()[-1])[1:3] == ["tdnn2.linear", "tdnn2"]
    assert (twin / "am" / "final.mdl").read_bytes() != (tiny_model / "am" / "final.mdl").read_bytes()
    vosk.SetLogLevel(-1)
    texts = ["yes", "no", "stop", "yesterday", "the weather is nice"]
    waves = [eval_condition(np.random.default_rng(i), x, snr_db=[None, 10.0][i % 2])
             for i, x in enumerate(synth_many(Voice("espeak", "en-us", "m3"), texts))]

    def heard(model_dir: Path) -> list[tuple[str, float]]:
        model = vosk.Model(str(model_dir))
        out = []
        for x in waves:
            rec = vosk.KaldiRecognizer(model, 16000)
            rec.SetMaxAlternatives(1)
            rec.AcceptWaveform(np.clip(x, -32768, 32767).astype("<i2").tobytes())
            raw = rec.FinalResult()
            out.append((json.loads(raw)["alternatives"][0]["text"], best_log_likelihood(raw)))
        return out

    plain, factorised = heard(tiny_model), heard(twin)
    assert [t for t, _ in factorised] == [t for t, _ in plain]
    assert np.allclose([c for _, c in factorised], [c for _, c in plain], rtol=1e-3, atol=0.05)


def test_training_scores_the_graphs_libvosk_decodes(tiny_model: Path, tmp_path: Path) -> None:
    """Discriminative training (models.build.discriminative) scores an utterance on the phrase loop
    and the garbage loop that libvosk searches (the model's graph without the groups that decoding
    adds; with and without its fillers): its best path must be libvosk's best path, with the same
    likelihood and the same decision (phrase or [unk]); the forward sum can only add paths; and the
    boosted MMI loss must push an answer's margin over garbage up and unknown speech's down."""
    import vosk
    texts = ["yes", "the weather is nice", "no", "stop", "yesterday", "no", "stop it now", "okay, yes", "well, no"]
    voices = [Voice("espeak", "en-us", "m3"), Voice("espeak", "en", "f2")]
    waves = [np.clip(eval_condition(np.random.default_rng(i), x, snr_db=[None, 20.0][i % 2]), -32768, 32767)
             .astype(np.int16)
             for i, x in enumerate(synth_many(voices[0], texts[:4]) + synth_many(voices[1], texts[4:]))]
    np.savez(tmp_path / "waves.npz", **{f"w{i}": w for i, w in enumerate(waves)})
    plain, wrapped = tmp_path / "plain-model", tmp_path / "filler-model"
    r = subprocess.run([sys.executable, str(REPO / "tests" / "graph_scores.py"), str(tiny_model),
                        str(tmp_path / "waves.npz"), "yes", str(plain), str(wrapped)],
                       cwd=REPO, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.splitlines()[-1])
    vosk.SetLogLevel(-1)
    for model_dir, phrase_score in ((plain, "phrases_viterbi"), (wrapped, "wrapped_viterbi")):
        model = vosk.Model(str(model_dir))
        diffs = []
        for w, s in zip(waves, got["scores"]):
            rec = vosk.KaldiRecognizer(model, 16000)
            rec.SetMaxAlternatives(1)
            rec.AcceptWaveform(w.tobytes())
            raw = rec.FinalResult()
            text = json.loads(raw)["alternatives"][0]["text"]
            diffs.append(best_log_likelihood(raw) - max(s[phrase_score], s["garbage_viterbi"]))
            assert abs(diffs[-1]) < 2.0, (model_dir.name, text, s)
            assert (text == "[unk]") == (s["garbage_viterbi"] > s[phrase_score]), (model_dir.name, text, s)
        # the network's frame scores differ from libvosk's in the last digits (its feature pipeline), but
        # a graph cost missing or added (the phrase cost is 1) would move every utterance. libvosk reports
        # its best path with the graph costs scaled by 0.9 (GraphLatticeScale(0.9) before NbestResult), so
        # a run of two phrases (1 + 8 + 1) reads 1.0 higher than the loops score it; the search is unscaled
        assert abs(float(np.median(diffs))) < 0.5, (model_dir.name, diffs)
    for s in got["scores"]:
        assert s["phrases_forward"] >= s["phrases_viterbi"] - 1e-3
        assert s["garbage_forward"] >= s["garbage_viterbi"] - 1e-3
        assert s["wrapped_viterbi"] >= s["phrases_viterbi"] - 1e-3     # fillers only add paths
    # and the tiny network's best paths take them on the wrapped answers, so the comparison above covers them
    assert any(s["wrapped_viterbi"] > s["phrases_viterbi"] + 1.0 for s in got["scores"][-2:]), got["scores"]
    up, down = got["answer"]["margins"], got["unknown"]["margins"]
    assert up[-1] > up[0] and down[-1] < down[0], got
    sep, plain = got["separated"]["leads"], got["plain"]["leads"]
    assert sep[0] == plain[0] and sep[-1] > sep[0] and sep[-1] - sep[0] > plain[-1] - plain[0], got


def test_wrapped_answers_are_scored_by_the_intent_the_dialog_reads() -> None:
    """bench.accuracy's answers with a hesitation or courtesy: right, re-asked, or another intent."""
    from bench.accuracy import WRAPPED_ANSWERS, dialog_interpreter, score_wrapped
    interpret = dialog_interpreter()
    assert all(interpret(text.replace(",", "")).intent == want for text, want in WRAPPED_ANSWERS)  # as typed
    heard = [("clean", "um, yes", "yes", "yes"), ("clean", "uh, no", "no", "[unk]"),
             ("clean", "hmm, no", "no", "don't know"), ("10dB", "well, yes", "yes", "no yes"),
             ("10dB", "oh, no", "no", "yes")]
    r = score_wrapped(heard, interpret)
    assert r["intent_accuracy"] == {"clean": 1 / 3, "10dB": 0.0}
    assert r["not_taken"] == {"clean": 1 / 3, "10dB": 0.5}          # "[unk]"; "no yes" holds both answers
    assert r["wrong_intent"] == {"clean": 1 / 3, "10dB": 0.5}       # "don't know" is unsure; "yes"
    assert r["swaps"] == 1
    assert [e["said"] for e in r["errors"]] == ["uh, no", "hmm, no", "well, yes", "oh, no"]


def test_product_turns_are_tallied_as_a_safety_question_treats_them() -> None:
    """Right answers and swaps are accepted above the read-back confidence and read back below it;
    anything else is re-asked, never counted as the other answer."""
    from bench.accuracy import CONFIRM_BELOW, dialog_interpreter, tally_turns
    hi, lo = CONFIRM_BELOW + 0.3, CONFIRM_BELOW - 0.3
    t = tally_turns([("no", "no", "no", hi), ("yes", "yes", "um yes", lo), ("right", "yes", "no", hi),
                     ("nope", "no", "yes", lo), ("no", "no", "[unk]", None), ("yes", "yes", "stop yes", hi)],
                    dialog_interpreter())
    assert (t["answers"], t["accepted_right"], t["read_back"], t["swaps_accepted"], t["swaps_read_back"],
            t["not_taken"]) == (6, 1, 1, 1, 1, 2)
    assert t["swaps"][0] == {"said": "right", "heard": "no", "confidence": hi}


def test_two_models_are_compared_on_the_same_speech(tiny_model: Path) -> None:
    """bench.accuracy --against: the speech is synthesised once and both models decode it. A model
    against itself changes nothing; the tiny model (yes/no/stop only) against the shipped one loses
    "repeat" and the table says so."""
    from bench.accuracy import HeldOutSpeech, compare_table, headline, score
    rng = np.random.default_rng(4)
    phrases, oov = ["yes", "no", "repeat"], ["elephant"]
    waves = synth_many(Voice("espeak", "en-us"), phrases + oov + ["um, yes"])
    items = [("espeak:en-us", c, p, eval_condition(rng, x, snr))
             for p, x in zip(phrases, waves) for c, snr in (("clean", None), ("10dB", 10.0))]
    items += [("espeak:en-us", c, "[unk]", eval_condition(rng, waves[3], snr)) for c, snr in (("clean", None), ("10dB", 10.0))]
    wrapped = [(c, "um, yes", "yes", eval_condition(rng, waves[4], snr)) for c, snr in (("clean", None), ("10dB", 10.0))]
    speech = HeldOutSpeech("standard", ["espeak:en-us"], phrases, oov, items,
                           [p for p in phrases for _ in range(2)] + oov * 2, wrapped)
    shipped = score(REPO / "models" / "answer-model", speech)
    tiny = score(tiny_model, speech)
    assert shipped["utterances"] == tiny["utterances"] == 8
    assert shipped["per_phrase"]["repeat"]["clean"] == 1.0 and tiny["per_phrase"]["repeat"]["clean"] == 0.0
    same = compare_table(shipped, shipped)
    assert all(line.endswith("+0.0") for line in same[1:]) and not any("moved" in line for line in same)
    h = headline(shipped)
    assert h["phrases clean %"] == 100 * shipped["summary"]["accuracy"]["clean"]
    assert h["product turns accepted_right (count)"] == shipped["yes_no_as_product_turns"]["accepted_right"]
    table = compare_table(shipped, tiny)
    moved = next(line for line in table if line.startswith("moved most"))
    assert "phrase 'repeat' -100 /" in moved


def test_courtesy_units_give_the_courtesies_word_units_and_leave_the_garbage_phones() -> None:
    """Recipe.courtesy_units: "thank you" / "please" in units of their own, as a vocabulary word has,
    so the garbage loop's phones no longer spell them; the hesitations stay in generic phones."""
    code = textwrap.dedent("""
        import json
        from dataclasses import replace
        from models.build.__main__ import TINY, prepare
        out = {}
        for on in (False, True):
            p = prepare(replace(TINY, courtesy_units=on), 5, True)
            out[str(on)] = {"prons": {w: list(p.lex.prons[w]) for w in ("thank", "you", "please", "um", "yes")},
                            "garbage": p.garbage, "after": p.fillers[1]}
        print(json.dumps(out))
    """)
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.splitlines()[-1])
    off, on = got["False"], got["True"]
    assert "thank you" in on["after"] and "please" in on["after"]
    assert on["prons"]["thank"] == [f"thank#{k}" for k in range(len(off["prons"]["thank"]))]
    assert on["prons"]["you"] == ["you#0", "you#1"] and on["prons"]["please"][0] == "please#0"
    assert all("#" not in u for w in ("thank", "you", "please", "um") for u in off["prons"][w])
    assert on["prons"]["um"] == off["prons"]["um"]                 # a hesitation keeps the generic phones
    assert on["prons"]["yes"] == off["prons"]["yes"] == ["yes#0", "yes#1", "yes#2"]
    assert on["garbage"] == off["garbage"] and not any("#" in g for g in on["garbage"])
