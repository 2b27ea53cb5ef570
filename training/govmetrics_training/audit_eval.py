"""Evaluation of the arithmetic audit on the annotated documents.

(a) Every mismatch the audit raises on the unmodified real documents, joined
    with the hand verdicts in `annotations/audit_verdicts.jsonl` (stand-off:
    doc id, sha256, offsets of the stated figure, real_error | false_alarm, a
    reason): confirmed errors, false alarms, not yet reviewed.
(b) Mutation testing: every figure that takes part in a relation the audit
    judges ok (and in no mismatch) gets one digit changed (fixed seed); the
    pipeline reruns on the paragraphs around it; the perturbation counts as
    found when a mismatch check includes that figure. Recall = found / run.
(c) The authored documents with planted slips (annotations/README.md): how
    many of them the audit flags.
(d) Every other readable file of the corpus (the PDFs behind the budget
    texts, the work reports, news, annual reports, local work reports not
    annotated): its mismatches joined with the hand verdicts (keyed by `path`
    instead of `doc`), as in (a).
(e) The authored 绩效自评 reports in `annotations/audit/*.jsonl`, each with
    planted slips (kind, offsets of the stated figure): recall on planted
    slips per kind (a slip is found when a mismatch of its kind includes a
    figure overlapping it), and every other mismatch counted as a false alarm.
Last, false alarms per document per genre: (a) and (d) by the corpus folder
the file comes from (false alarms and unreviewed mismatches), (e) as
`authored`.
"""
from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from govmetrics_training.annotations import PROJECT_ROOT, AnnotatedDoc, load_corpus, resolve_source, sha256_file

VERDICTS = PROJECT_ROOT / "annotations" / "audit_verdicts.jsonl"
PLANTED = ("shuili-4", "nongye-4", "shijianju-3", "shuiwu-3", "ziranziyuan-5", "tongji-5", "canlian-6",
           "shangwuju-6", "shenji-7", "yingji-1")
WINDOW = 500  # characters of context kept on each side of a relation when a mutation is rerun
CORPUS = PROJECT_ROOT.parent / "shared" / "corpus"
AUTHORED_AUDIT = PROJECT_ROOT / "annotations" / "audit"
# corpus folder -> genre (the PDFs are the budget disclosures' originals)
GENRES = {"budget": "budget", "pdf": "budget", "work-reports": "work-report", "news": "news",
          "annual-reports": "annual-report", "local-work-reports": "local-work-report", "seed": "seed"}
GENRE_ORDER = ("budget", "work-report", "news", "annual-report", "local-work-report", "seed", "authored")
SLIP_KINDS = ("rate", "over_target", "product", "target", "sum")


@dataclass
class Mismatch:
    doc: str
    start: int
    end: int
    check: dict[str, Any]
    verdict: str | None = None
    reason: str = ""


@dataclass
class Mutation:
    doc: str
    start: int
    original: str
    mutated: str
    window: tuple[int, int]
    index: int = -1
    found: bool = False
    # what changing only this figure's value does to the clean text's relations:
    # "breaks" (one no longer holds), "holds" (all still hold at the precision the text
    # states) or "unjudged" (one can no longer be judged, e.g. an open list's total raised)
    effect: str = "breaks"
    stated: bool = False  # the figure is a relation's stated one (a rate, a share, a total), not only an input

    @property
    def detectable(self) -> bool:
        return self.effect == "breaks"


def genre_of(path: str) -> str:
    """The genre of a corpus file by its folder (`../shared/corpus/news/…` -> news)."""
    parts = Path(path).parts
    for i, part in enumerate(parts[:-1]):
        if part == "corpus" and i + 1 < len(parts):
            return GENRES.get(parts[i + 1], parts[i + 1])
    return "other"


@dataclass
class AuthoredAudit:
    """An authored report with planted slips (annotations/README.md, the audit part)."""

    id: str
    text: str
    genre: str
    slips: list[dict[str, Any]]


def load_authored_audit(folder: Path = AUTHORED_AUDIT) -> list[AuthoredAudit]:
    out = []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                d = json.loads(line)
                out.append(AuthoredAudit(d["id"], d["text"], d.get("genre", "jixiao"), d.get("slips", [])))
    return out


def judge_authored(docs: list[AuthoredAudit], results: list[Any]) -> dict[str, Any]:
    """Recall on planted slips per kind; every mismatch no slip explains is a false alarm."""
    per_kind = {k: [0, 0] for k in SLIP_KINDS}
    missed, false_alarms = [], []
    for doc, res in zip(docs, results):
        bad = [c for c in res.checks if c["status"] == "mismatch"]
        spans = [[(res.records[i].quantity.start, res.records[i].quantity.end) for i in c["records"]] for c in bad]
        explained = set()
        for slip in doc.slips:
            kind = slip["kind"]
            per_kind.setdefault(kind, [0, 0])[1] += 1
            hits = [n for n, c in enumerate(bad) if c["kind"] == kind
                    and any(a < slip["end"] and slip["start"] < b for a, b in spans[n])]
            if hits:
                per_kind[kind][0] += 1
                explained.update(hits)
            else:
                missed.append({"doc": doc.id, "kind": kind, "stated": slip["stated"], "start": slip["start"]})
        for n, c in enumerate(bad):
            if n not in explained:
                q = res.records[c["records"][0]].quantity
                false_alarms.append({"doc": doc.id, "start": q.start, "end": q.end, "kind": c["kind"],
                                     "message": c["message"]})
    return {"documents": len(docs), "slips": sum(len(d.slips) for d in docs),
            "per_kind": {k: {"found": f, "planted": t, "recall": (f / t) if t else None}
                         for k, (f, t) in per_kind.items()},
            "missed": missed, "false_alarms": false_alarms}


def document_text(doc: AnnotatedDoc) -> str:
    """Real documents are read through the project's reader, as a user's file would be."""
    if doc.source is None:
        return doc.text
    from govmetrics.read.readers import read_path

    return read_path(resolve_source(doc.source["path"])).text


def load_verdicts(path: Path = VERDICTS) -> dict[tuple[str, int, int], dict[str, Any]]:
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            v = json.loads(line)
            out[(v.get("doc") or v["path"], v["start"], v["end"])] = v
    return out


def mismatches(names: list[tuple[str, str | None]], results: list[Any]) -> list[Mismatch]:
    """The mismatches of each (document name, sha256 of its file) with their hand verdicts."""
    verdicts = load_verdicts()
    out = []
    for (name, sha256), res in zip(names, results):
        for c in res.checks:
            if c["status"] != "mismatch":
                continue
            q = res.records[c["records"][0]].quantity
            m = Mismatch(name, q.start, q.end, c)
            v = verdicts.get((name, q.start, q.end))
            if v is not None and v.get("sha256") == sha256:
                m.verdict, m.reason = v["verdict"], v.get("reason", "")
            out.append(m)
    return out


def other_corpus_files(docs: list[AnnotatedDoc]) -> list[Path]:
    """The corpus's text and PDF files that no annotated document comes from."""
    annotated = {resolve_source(d.source["path"]) for d in docs if d.source is not None}
    return sorted(p for p in CORPUS.rglob("*") if p.suffix in (".txt", ".pdf") and p.resolve() not in annotated)


def read_others(files: list[Path]) -> tuple[list[tuple[str, str, str]], int]:
    """(path as annotations write it, sha256, text) of each readable file, and how many were unreadable."""
    from govmetrics.errors import GovMetricsError
    from govmetrics.read.readers import read_path

    out, unreadable = [], 0
    for f in files:
        try:
            text = read_path(f).text
        except GovMetricsError:
            unreadable += 1
            continue
        out.append(("../shared/corpus/" + f.relative_to(CORPUS).as_posix(), sha256_file(f), text))
    return out, unreadable


def mutate_digit(text: str, rng: random.Random) -> str | None:
    """Change one ASCII digit of a figure's text to another digit (never a new leading zero)."""
    positions = [i for i, ch in enumerate(text) if ch.isascii() and ch.isdigit()]
    if not positions:
        return None
    i = rng.choice(positions)
    leading = i == positions[0] and (i == 0 or not text[i - 1].isdigit())
    choices = [d for d in "0123456789" if d != text[i] and not (leading and d == "0" and len(positions) > 1)]
    return text[:i] + rng.choice(choices) + text[i + 1:]


def _window(text: str, lo: int, hi: int) -> tuple[int, int]:
    """The relation's figures with WINDOW characters around, cut at line breaks."""
    a = max(0, lo - WINDOW)
    nl = text.rfind("\n", 0, a + 1)
    a = nl + 1 if a > 0 and nl >= 0 and lo - nl < 2 * WINDOW else a
    b = min(len(text), hi + WINDOW)
    nl = text.find("\n", b)
    b = nl if 0 <= nl and nl - hi < 2 * WINDOW else b
    return a, b


def plan_mutations(docs: list[AnnotatedDoc], results: list[Any], limit: int, seed: int) -> list[Mutation]:
    rng = random.Random(seed)
    candidates: list[tuple[AnnotatedDoc, Any, int, tuple[int, int]]] = []
    for doc, res in zip(docs, results):
        in_mismatch = {i for c in res.checks if c["status"] == "mismatch" for i in c["records"]}
        spans: dict[int, tuple[int, int]] = {}
        for c in res.checks:
            if c["status"] != "ok":
                continue
            lo = min(res.records[i].quantity.start for i in c["records"])
            hi = max(res.records[i].quantity.end for i in c["records"])
            for i in c["records"]:
                if i not in in_mismatch:
                    s, e = spans.get(i, (lo, hi))
                    spans[i] = (min(s, lo), max(e, hi))
        for i in sorted(spans):
            candidates.append((doc, res, i, spans[i]))
    rng.shuffle(candidates)
    out = []
    for doc, res, i, (lo, hi) in candidates:
        if len(out) >= limit:
            break
        q = res.records[i].quantity
        mutated = mutate_digit(q.text, rng)
        if mutated is None:
            continue
        m = Mutation(doc.id, q.start, q.text, mutated, _window(res.text, lo, hi), index=i)
        m.effect = _effect(res, m)
        m.stated = any(c["status"] == "ok" and c["records"][0] == i for c in res.checks)
        out.append(m)
    return out


def _effect(res: Any, m: Mutation) -> str:
    """What the clean text's relations make of this figure's new value, the rest of the records unchanged.

    A digit change far below the stated precision (`18330.37` -> `18310.37` under a rate
    written to one decimal) leaves every relation true: no arithmetic check can see it.
    """
    from dataclasses import replace

    from govmetrics.audit.arithmetic import ArithmeticAudit
    from govmetrics.grammar.quantities import QuantityGrammar

    found = QuantityGrammar().find(m.mutated)
    if not found:
        return "unjudged"
    new = found[0]
    old = res.records[m.index]
    q = replace(old.quantity, value=new.value, normalized_value=new.normalized_value, text=m.mutated)
    records = list(res.records)
    records[m.index] = replace(old, quantity=q)
    text = res.text[:m.start] + m.mutated + res.text[m.start + len(m.original):]
    after = [c for c in ArithmeticAudit().check(text, records) if m.index in c.records]
    if any(c.status == "mismatch" for c in after):
        return "breaks"
    before = sum(1 for c in res.checks if m.index in c["records"])
    return "holds" if len(after) >= before else "unjudged"


def run_mutations(mutations: list[Mutation], texts: dict[str, str], extractor: Any) -> None:
    items = []
    for m in mutations:
        text = texts[m.doc]
        a, b = m.window
        perturbed = text[a:m.start] + m.mutated + text[m.start + len(m.original):b]
        items.append((perturbed, m.doc))
    results = extractor.extract_texts(items, batch_size=32)
    for m, res in zip(mutations, results):
        offset = m.start - m.window[0]
        target = {i for i, r in enumerate(res.records) if r.quantity.start == offset}
        m.found = any(c["status"] == "mismatch" and target & set(c["records"]) for c in res.checks)


def per_genre(named: list[tuple[str, list[Mismatch]]], authored: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Documents, false alarms (false_alarm or unreviewed verdicts) and their rate per genre."""
    table: dict[str, dict[str, Any]] = {}
    for path, found in named:
        row = table.setdefault(genre_of(path), {"documents": 0, "mismatches": 0, "false_alarms": 0})
        row["documents"] += 1
        row["mismatches"] += len(found)
        row["false_alarms"] += sum(1 for m in found if m.verdict != "real_error")
    if authored["documents"]:
        table["authored"] = {"documents": authored["documents"],
                             "mismatches": authored["slips"] - len(authored["missed"]) + len(authored["false_alarms"]),
                             "false_alarms": len(authored["false_alarms"])}
    for row in table.values():
        row["per_document"] = row["false_alarms"] / row["documents"] if row["documents"] else 0.0
    return {g: table[g] for g in sorted(table, key=lambda g: (GENRE_ORDER.index(g) if g in GENRE_ORDER else 99, g))}


def evaluate(max_mutations: int = 1000, seed: int = 7, model: str | None = None) -> dict[str, Any]:
    from govmetrics.extract import Extractor

    extractor = Extractor(model=model)
    corpus = load_corpus()
    real = [d for d in corpus if d.origin == "real"]
    texts = {d.id: document_text(d) for d in real}
    results = extractor.extract_texts([(texts[d.id], d.id) for d in real])
    found = mismatches([(d.id, (d.source or {}).get("sha256")) for d in real], results)
    checks = [c for r in results for c in r.checks]
    others, unreadable = read_others(other_corpus_files(corpus))
    o_results = extractor.extract_texts([(text, path) for path, _, text in others])
    o_found = mismatches([(path, sha) for path, sha, _ in others], o_results)
    o_false_alarms = sum(1 for m in o_found if m.verdict == "false_alarm")
    o_unreviewed = sum(1 for m in o_found if m.verdict is None)
    mutations = plan_mutations(real, results, max_mutations, seed)
    run_mutations(mutations, texts, extractor)
    authored = [d for d in corpus if d.origin == "authored"]
    a_results = extractor.extract_texts([(d.text, d.id) for d in authored])
    flagged = {d.id for d, r in zip(authored, a_results) if any(c["status"] == "mismatch" for c in r.checks)}
    planted = [p for p in PLANTED if f"authored-{p}" in flagged]
    unplanted = sorted(f for f in flagged if f.removeprefix("authored-") not in PLANTED)
    false_alarms = sum(1 for m in found if m.verdict == "false_alarm")
    unreviewed = sum(1 for m in found if m.verdict is None)
    jixiao = load_authored_audit()
    j_results = extractor.extract_texts([(d.text, d.id) for d in jixiao])
    authored_audit = judge_authored(jixiao, j_results)
    sources = {d.id: (d.source or {}).get("path", "") for d in real}
    named = [(sources[d.id], [m for m in found if m.doc == d.id]) for d in real]
    named += [(path, [m for m in o_found if m.doc == path]) for path, _, _ in others]
    return {
        "model": extractor.model,
        "documents": len(real),
        "checks": len(checks),
        "checks_ok": sum(1 for c in checks if c["status"] == "ok"),
        "mismatches": [_mismatch_json(m) for m in found],
        "real_errors": sum(1 for m in found if m.verdict == "real_error"),
        "false_alarms": false_alarms,
        "unreviewed": unreviewed,
        "false_alarms_per_document": (false_alarms + unreviewed) / len(real) if real else 0.0,
        "mutations_run": len(mutations),
        "mutations_found": sum(1 for m in mutations if m.found),
        "mutation_recall": (sum(1 for m in mutations if m.found) / len(mutations)) if mutations else 0.0,
        "detectable": sum(1 for m in mutations if m.detectable),
        "detectable_found": sum(1 for m in mutations if m.detectable and m.found),
        "detectable_recall": (sum(1 for m in mutations if m.detectable and m.found)
                              / max(1, sum(1 for m in mutations if m.detectable))),
        "undetectable_holds": sum(1 for m in mutations if m.effect == "holds"),
        "undetectable_unjudged": sum(1 for m in mutations if m.effect == "unjudged"),
        "stated_run": sum(1 for m in mutations if m.stated),
        "stated_found": sum(1 for m in mutations if m.stated and m.found),
        "inputs_run": sum(1 for m in mutations if not m.stated),
        "inputs_found": sum(1 for m in mutations if not m.stated and m.found),
        "missed": [{"doc": m.doc, "start": m.start, "original": m.original, "mutated": m.mutated}
                   for m in mutations if m.detectable and not m.found],
        "seed": seed,
        "planted_found": len(planted),
        "planted_total": len(PLANTED),
        "planted_missed": [p for p in PLANTED if p not in planted],
        "authored_flagged_unplanted": unplanted,
        "other_documents": len(others),
        "other_unreadable": unreadable,
        "other_checks": sum(len(r.checks) for r in o_results),
        "other_mismatches": [_mismatch_json(m) for m in o_found],
        "other_real_errors": sum(1 for m in o_found if m.verdict == "real_error"),
        "other_false_alarms": o_false_alarms,
        "other_unreviewed": o_unreviewed,
        "other_false_alarms_per_document": (o_false_alarms + o_unreviewed) / len(others) if others else 0.0,
        "authored_audit": authored_audit,
        "genres": per_genre(named, authored_audit),
    }


def _mismatch_json(m: Mismatch) -> dict[str, Any]:
    return {"doc": m.doc, "start": m.start, "end": m.end, "kind": m.check["kind"], "stated": m.check["stated"],
            "computed": m.check["computed"], "message": m.check["message"], "verdict": m.verdict,
            "reason": m.reason}


def _mismatch_lines(found: list[dict[str, Any]]) -> list[str]:
    lines = []
    for m in found:
        verdict = m["verdict"] or "UNREVIEWED"
        lines.append(f"  {m['doc']} [{m['start']}:{m['end']}] {m['kind']} stated {m['stated']} computed "
                     f"{m['computed']} -> {verdict}{': ' + m['reason'] if m['reason'] else ''}")
        lines.append(f"      {m['message']}")
    return lines


def format_report(r: dict[str, Any]) -> str:
    lines = [f"model: {r['model']}", f"(a) unmodified real documents: {r['documents']} documents, {r['checks']} checks, "
             f"{r['checks_ok']} ok, {len(r['mismatches'])} mismatches"]
    lines += _mismatch_lines(r["mismatches"])
    lines.append(f"  confirmed real errors {r['real_errors']}, false alarms {r['false_alarms']}, "
                 f"unreviewed {r['unreviewed']}")
    lines.append(f"  false alarms per document (false alarms + unreviewed): {r['false_alarms_per_document']:.3f}")
    lines.append(f"(b) mutation testing (seed {r['seed']}): {r['mutations_run']} perturbations run, "
                 f"{r['mutations_found']} flagged, recall {r['mutation_recall']:.3f} (all perturbations)")
    lines.append(f"  detectable perturbations (a relation of the clean text no longer holds at the stated "
                 f"precision): {r['detectable']}, flagged {r['detectable_found']}, "
                 f"recall {r['detectable_recall']:.3f}")
    lines.append(f"  by the figure changed: stated figures (rates, shares, totals) {r['stated_found']}/"
                 f"{r['stated_run']} flagged, inputs only {r['inputs_found']}/{r['inputs_run']} flagged")
    lines.append(f"  not detectable: {r['undetectable_holds']} leave every relation true at the stated precision "
                 f"(a low digit), {r['undetectable_unjudged']} leave a relation no longer judged (e.g. the total "
                 f"of an open list raised)")
    for m in r["missed"][:20]:
        lines.append(f"  missed: {m['doc']} @{m['start']} {m['original']!r} -> {m['mutated']!r}")
    lines.append(f"(c) planted slips in authored documents: {r['planted_found']}/{r['planted_total']} flagged"
                 + (f"; missed {', '.join(r['planted_missed'])}" if r["planted_missed"] else "")
                 + (f"; also flagged {', '.join(r['authored_flagged_unplanted'])}"
                    if r["authored_flagged_unplanted"] else ""))
    lines.append(f"(d) the other corpus files (not annotated): {r['other_documents']} documents "
                 f"({r['other_unreadable']} unreadable left out), {r['other_checks']} checks, "
                 f"{len(r['other_mismatches'])} mismatches")
    lines += _mismatch_lines(r["other_mismatches"])
    lines.append(f"  confirmed real errors {r['other_real_errors']}, false alarms {r['other_false_alarms']}, "
                 f"unreviewed {r['other_unreviewed']}")
    lines.append(f"  false alarms per document (false alarms + unreviewed): "
                 f"{r['other_false_alarms_per_document']:.3f}")
    a = r["authored_audit"]
    lines.append(f"(e) authored 绩效自评 reports (annotations/audit): {a['documents']} documents, "
                 f"{a['slips']} planted slips")
    for kind, row in a["per_kind"].items():
        recall = "n/a" if row["recall"] is None else f"{row['recall']:.3f}"
        lines.append(f"  recall on planted slips, {kind}: {row['found']}/{row['planted']} = {recall}")
    for m in a["missed"]:
        lines.append(f"  missed: {m['doc']} @{m['start']} {m['kind']} {m['stated']}")
    lines.append(f"  false alarms (mismatches no planted slip explains): {len(a['false_alarms'])}")
    for m in a["false_alarms"]:
        lines.append(f"  false alarm: {m['doc']} [{m['start']}:{m['end']}] {m['kind']}: {m['message']}")
    lines.append("false alarms per document per genre (false alarms + unreviewed mismatches, (a) and (d) together; "
                 "authored: (e)):")
    for genre, row in r["genres"].items():
        lines.append(f"  {genre:18} {row['documents']:4} documents, {row['mismatches']:3} mismatches, "
                     f"{row['false_alarms']:3} false alarms, {row['per_document']:.3f} per document")
    return "\n".join(lines)


def main(max_mutations: int = 1000, seed: int = 7, as_json: bool = False, model: str | None = None) -> int:
    report = evaluate(max_mutations, seed, model)
    print(json.dumps(report, ensure_ascii=False, indent=2) if as_json else format_report(report))
    sys.stdout.flush()
    return 0
