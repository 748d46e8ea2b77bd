"""``make augment`` (ablation variant h): entity-swapped copies of train rows, and the preset that trains on them."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, compose_config
from negotiation_stance.config.validation import validate_train_config
from negotiation_stance.corpus.augment import augment_file, augment_rows, load_lexicon, role_mapping, swap_text
from negotiation_stance.errors import ConfigError, report_user_errors
from negotiation_stance.io import DataError

LEXICON_PATH = ROOT / "data" / "augmentation" / "entity_swap.yaml"
LEXICON = load_lexicon(LEXICON_PATH)


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def swap(text: str, source: str, target: str) -> str:
    src, tgt = LEXICON[source], LEXICON[target]
    mapping = role_mapping(src, tgt, src.roles_in(text))
    assert mapping is not None, f"{target} cannot take {text!r}"
    return swap_text(text, src, tgt, mapping)


@pytest.mark.parametrize(
    ("source", "target", "before", "after"),
    [
        # side for side; capital, seat, possessive (straight and curly) kept; "The" at the start kept
        ("russia_ukraine", "armenia_azerbaijan",
         "The Kremlin said Russia's offer to Kyiv stood, and Ukraine’s envoy met Russians in Istanbul.",
         "The Azerbaijani presidency said Azerbaijan's offer to Yerevan stood, and Armenia’s envoy met "
         "Azerbaijanis in Almaty."),
        # multi-word forms are swapped whole: never "<adjective> Federation"; a bare "Kremlin" loses "the"
        ("russia_ukraine", "armenia_azerbaijan",
         "Officials of the Russian Federation and Russian Federation diplomats met Kremlin aides.",
         "Officials of Azerbaijan and Azerbaijan diplomats met Azerbaijani presidency aides."),
        # a target name with "the": capitalised at the start of a sentence or quote, never "the the"; a/an follow
        ("russia_ukraine", "sudan",
         'Ukraine is ready, a Ukrainian aide said, and the Ukraine talks go on. "Ukraine wants peace."',
         'The RSF is ready, an RSF aide said, and the RSF talks go on. "The RSF wants peace."'),
        ("russia_ukraine", "yemen", "A Russian diplomat called it a Ukrainian ploy.",
         "A Yemeni diplomat called it a Houthi ploy."),
        # places and venues by rank, two places stay two places; whole words only
        ("russia_ukraine", "israel_hamas", "Shelling hit Donetsk and Luhansk; Kyivstar and Ukrainegate stay.",
         "Shelling hit Gaza and the Gaza Strip; Kyivstar and Ukrainegate stay."),
        # a demonym that is adjective and people is told apart by the next word; keep phrases are kept
        ("sudan", "armenia_azerbaijan", "Sudanese troops pledged a process for all Sudanese.",
         "Azerbaijani troops pledged a process for all Azerbaijanis."),
        ("israel_hamas", "russia_ukraine", "Israel met the Palestinian Authority, not Hamas, in Cairo.",
         "Russia met the Palestinian Authority, not Ukraine, in Ankara."),
    ],
)  # fmt: skip
def test_swaps_keep_roles_case_possessives_and_multi_word_forms(source, target, before, after):
    assert swap(before, source, target) == after


def test_a_target_that_lacks_a_role_or_is_already_named_gets_no_copy():
    from negotiation_stance.corpus.augment import swap_row

    row = {"id": "r1", "text": "Moscow rejected the plan.", "split": "train", "article_id": "a"}
    ru = LEXICON["russia_ukraine"]
    assert swap_row(row, ru, LEXICON["israel_hamas"]) is None  # Israel has no capital in the lexicon
    assert swap_row(row, ru, LEXICON["armenia_azerbaijan"])["text"] == "Baku rejected the plan."
    named = {**row, "text": "Moscow said Baku rejected the plan."}  # Azerbaijan is already in the sentence
    assert swap_row(named, ru, LEXICON["armenia_azerbaijan"]) is None


ARTICLES = {"a1": "russia_ukraine", "a2": "israel_hamas", "a3": "labour_strike"}


def rows() -> list[dict]:
    def row(i: int, article: str, split: str, text: str, **extra) -> dict:
        return {"id": f"{article}-s{i:03d}", "article_id": article, "sentence_index": i, "text": text,
                "label": "skeptical", "speaker": None, "split": split, "version": "v2", **extra}  # fmt: skip

    kyiv = "Kyiv said Moscow had no real interest in talks."
    return [
        row(0, "a1", "train", kyiv, context_before="Moscow spoke.", note="kept"),
        row(1, "a1", "validation", kyiv),
        row(2, "a1", "test", kyiv),
        row(3, "a1", "train", "Both sides said they were ready to talk."),  # no entity: no copy
        row(4, "a2", "train", "Israel said Hamas was stalling in the talks."),
        row(5, "a3", "train", "The union said the employers were stalling."),  # not a war of the lexicon
    ]


def test_only_train_rows_of_covered_wars_are_copied_and_every_field_travels():
    out, counts = augment_rows(rows(), ARTICLES, LEXICON, copies=2, seed=0)
    originals = [r for r in out if "augmented_from" not in r]
    assert originals == rows()  # every original row, unchanged and in order
    copies = [r for r in out if "augmented_from" in r]
    assert {r["augmented_from"] for r in copies} == {"a1-s000", "a2-s004"}
    assert len(copies) == 4 and all(r["split"] == "train" and r["label"] == "skeptical" for r in copies)
    for copy in copies:
        source = next(r for r in originals if r["id"] == copy["augmented_from"])
        target = copy["augmentation"].split("->")[1]
        assert copy["id"] == f"{source['id']}~swap-{target}" and copy["article_id"] == source["article_id"]
        assert copy["augmentation"] == f"entity_swap:{ARTICLES[source['article_id']]}->{target}"
        assert copy["text"] != source["text"] and copy["sentence_index"] == source["sentence_index"]
    first = [r for r in copies if r["augmented_from"] == "a1-s000"]
    for copy in first:  # context_before swapped with the same mapping; other fields copied
        target = LEXICON[copy["augmentation"].split("->")[1]]
        capital = target.first(("side_a", "capital"))
        assert copy["note"] == "kept" and copy["context_before"] == f"{capital} spoke."
        assert copy["text"] == f"{target.first(('side_b', 'capital'))} said {capital} had no real interest in talks."
    assert counts["not train (never augmented)"] == 2
    assert counts["train, no entity found (no copy)"] == 1 and counts["train, context not in the lexicon"] == 1


def test_output_is_deterministic_and_a_rows_copies_do_not_depend_on_the_others(tmp_path):
    corpus = [json.loads(line) for line in (ROOT / "data" / "processed" / "statements.jsonl").open()][:150]
    articles = tmp_path / "articles.jsonl"
    contexts = {json.loads(line)["article_id"]: json.loads(line)["context"] for line in (ROOT / "data" / "raw" /
                "articles.jsonl").open()}  # fmt: skip
    articles.write_text("".join(json.dumps({"article_id": a, "context": c}) + "\n" for a, c in contexts.items()))
    statements = tmp_path / "statements.jsonl"
    statements.write_text("".join(json.dumps(r) + "\n" for r in corpus))
    first, second, other = tmp_path / "1.jsonl", tmp_path / "2.jsonl", tmp_path / "3.jsonl"
    counts = augment_file(statements, articles, LEXICON_PATH, first, copies=1, seed=0)
    augment_file(statements, articles, LEXICON_PATH, second, copies=1, seed=0)
    augment_file(statements, articles, LEXICON_PATH, other, copies=1, seed=1)
    assert first.read_bytes() == second.read_bytes() and first.read_bytes() != other.read_bytes()
    assert sum(v for k, v in counts.items() if "->" in k) > 20
    alone, _ = augment_rows(corpus[::-1], contexts, LEXICON, copies=1, seed=0)
    written = [json.loads(line) for line in first.read_text().splitlines()]
    assert sorted(r["id"] for r in alone) == sorted(r["id"] for r in written)


def test_make_augment_runs_the_script_which_writes_the_file_and_prints_counts(tmp_path, capsys):
    dry = subprocess.run(["make", "-n", "-o", ".venv/.installed", "augment"], cwd=ROOT, capture_output=True, text=True)
    assert dry.returncode == 0 and "scripts/augment_entities.py" in dry.stdout
    script = load_script("augment_entities")
    statements, articles, out = tmp_path / "statements.jsonl", tmp_path / "articles.jsonl", tmp_path / "out.jsonl"
    statements.write_text("".join(json.dumps(r) + "\n" for r in rows()))
    articles.write_text("".join(json.dumps({"article_id": a, "context": c}) + "\n" for a, c in ARTICLES.items()))
    common = ["--statements", str(statements), "--articles", str(articles)]
    assert script.main([*common, "--out", str(out), "--copies", "2"]) == 0  # what the target runs, in-process
    printed = capsys.readouterr().out
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(written) == len(rows()) + 4 and "russia_ukraine -> 2 copies (" in printed
    assert "not train (never augmented): 2 rows" in printed and "copies written: 4" in printed
    shared = ROOT.parent / "shared" / "eval" / "real_dev.jsonl"  # refused before anything is read or written
    assert script.main(["--statements", str(shared), "--articles", str(articles), "--out", str(out)]) == 2
    assert "for scoring only" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**rows()[0], "article_id": "nope"}) + "\n")
    assert script.main(["--statements", str(bad), "--articles", str(articles), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {bad}, line 1, field 'article_id': 'nope' is not in {articles}"
    assert len(out.read_text().splitlines()) == len(rows()) + 4  # the failed run left the old file as it was


def test_an_ambiguous_lexicon_names_the_entry(tmp_path):
    lexicon = tmp_path / "lexicon.yaml"
    lexicon.write_text("w:\n  side_a: {name: [Avalon]}\n  side_b: {name: [Brill]}\n  places: [Brill]\n")
    with pytest.raises(DataError, match=r"w\.places: 'Brill' is already a form of side_b\.name"):
        load_lexicon(lexicon)
    lexicon.write_text("w:\n  side_a: {name: [Avalon]\n  side_b: {name: [Brill]}\n")  # an unclosed brace
    with pytest.raises(DataError, match=r"lexicon\.yaml, line 3: not valid YAML"):
        load_lexicon(lexicon)


def entity_swap_config(tmp_path: Path):
    (tmp_path / "processed").mkdir()
    (tmp_path / "processed" / "statements.jsonl").write_text(
        (ROOT / "tests" / "fixtures" / "statements_tiny.jsonl").read_text()
    )
    return compose_config("train", [
        "experiment=ablate_entity_swap", f"paths.data_dir={tmp_path}", "training=tiny", "logger=none",
        f"paths.output_dir={tmp_path / 'run'}", f"paths.log_dir={tmp_path / 'logs'}",
        f"paths.models_dir={tmp_path / 'models'}",
    ])  # fmt: skip


def test_the_preset_trains_on_the_swapped_file_and_fails_in_one_line_without_it(tmp_path, capsys):
    from negotiation_stance.training.run import train

    cfg = entity_swap_config(tmp_path)
    assert cfg.data.train_path == f"{tmp_path}/processed/statements_swapped.jsonl"
    assert cfg.data.validation_path == cfg.data.test_path == f"{tmp_path}/processed/statements.jsonl"
    with pytest.raises(ConfigError, match=r"statements_swapped\.jsonl is not a file") as caught:
        validate_train_config(cfg)
    assert "validation_path" not in str(caught.value)
    with pytest.raises(SystemExit) as stopped:
        report_user_errors(train)(cfg)  # as scripts/train.py runs it
    assert stopped.value.code == 2 and not (tmp_path / "run").exists()
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: invalid settings: data.train_path: {tmp_path}/processed/statements_swapped.jsonl "
        "is not a file (`make augment` writes it)"
    )
    (tmp_path / "processed" / "statements_swapped.jsonl").write_text("{}\n")
    validate_train_config(cfg)  # present: no complaint


def test_ablate_asks_for_make_augment_before_training_the_variant(tmp_path, monkeypatch, capsys):
    script = load_script("ablate")
    assert "entity_swap" in script.DEFAULT_VARIANTS.split(",")
    monkeypatch.setattr(script, "SCRIPTS", tmp_path / "scripts")  # a checkout without the swapped file
    monkeypatch.setattr(sys, "argv", ["ablate.py", "--variants", "default,entity_swap"])
    assert script.main() == 2
    assert "run `make augment` first" in capsys.readouterr().err
