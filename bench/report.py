"""Markdown tables from bench/results/*.json (used by run.py; also ``python bench/report.py``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
START, END = "<!-- bench:figures:start -->", "<!-- bench:figures:end -->"
GROUPS_START, GROUPS_END = "<!-- bench:groups:start -->", "<!-- bench:groups:end -->"
# The band targets of the default setting (issue "See the faces people see").
BAND_TARGETS = {"64-100": 0.8, "100-150": 0.95, "150-250": 0.95, "250-400": 0.95}
FP_TARGET = 0.05


def _load(results: Path, name: str) -> dict | None:
    p = results / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def _f(x, digits=1):
    if x is None:
        return "-"
    if isinstance(x, float):
        if abs(x) >= 1000:
            return f"{x:,.0f}"
        return f"{x:.{digits}f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def render(results: Path) -> str:
    out: list[str] = []
    secs = {n: _load(results, n) for n in ("throughput", "stages", "load", "ann", "growth")}
    first = next((s for s in secs.values() if s), None)
    if first is None:
        return "(no results yet)\n"
    m, srv = first["machine"], first["server"]
    out += [
        "### Machine and command",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB RAM, no GPU; shared with other users"
        " (load average at start/end of each section is in its JSON)",
        f"- Python {m['python']}; " + ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v),
        f"- PostgreSQL {srv['postgres']}, pgvector {srv['pgvector']}, {srv['connection']}; "
        + ", ".join(f"{k}={v}" for k, v in srv["settings"].items()),
        f"- OpenCV threads: {m['cv2_threads']}; facepipe commit {m.get('git_commit')}",
        "",
    ]
    for name, s in secs.items():
        if s:
            out.append(
                f"- `{name}`: `{s['command']}` finished {s['finished_at']}, {s['wall_s']} s"
                f"{' (quick)' if s.get('quick') else ''}"
            )
    out.append("")
    targets: list[tuple[str, str, str]] = []

    tp = secs["throughput"]
    if tp:
        out += [
            "### 1. Throughput: facepipe against the classic loop (haar + dlib-resnet-128)",
            "",
            "End to end = photos to rows in the database: classic = its loop with per-row INSERTs;"
            " facepipe = plan, process_shard, validate, load, index (facepipe.ingest.tasks). Processing only ="
            " plan + process_shard. Detection quality against the true faces that were drawn.",
            "",
            "| photos | system | photos/s | faces/s | true faces/s | x classic (faces/s) | x classic (true faces/s) | processing only: photos/s | CPU ms/photo | faces stored | recall | false pos. |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for kind, k in tp["kinds"].items():
            for name, e in k["systems"].items():
                ratio = k["ratio_to_classic"].get(name, {}).get("faces_per_s_end_to_end", 1.0)
                tratio = k["ratio_to_classic"].get(name, {}).get("true_faces_per_s_end_to_end", 1.0)
                proc = e.get("processing", {}).get("photos_per_s")
                q = e["quality"]
                out.append(
                    f"| {k['photos']} {kind} {k['size']} | {name} | {_f(e['end_to_end']['photos_per_s'], 2)}"
                    f" | {_f(e['end_to_end']['faces_per_s'], 2)} | {_f(e['end_to_end']['true_faces_per_s'], 2)}"
                    f" | {_f(ratio, 2)} | {_f(tratio, 2)} | {_f(proc, 2)} | {_f(e.get('cpu_ms_per_photo'), 0)}"
                    f" | {e['faces']} | {_f(q['recall'], 3)} | {q['false_positives']} |"
                )
        out.append("")
        out += [
            "The same aligned chips embedded by dlib's own ResNet code (`compute_face_descriptor`, one chip"
            " a call, as the classic loop does) and by facepipe's embedder (the same weights read from dlib's"
            " file, run by onnxruntime on one thread, batched):",
            "",
            "| photos | chips | dlib ms/face | facepipe ms/face | speed-up | max abs difference |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for kind, k in tp["kinds"].items():
            e = k.get("embedding_runtimes")
            if e:
                out.append(
                    f"| {kind} | {e['chips']} | {_f(e['dlib_ms_per_face'], 1)} | {_f(e['facepipe_ms_per_face'], 1)}"
                    f" | {e['speedup']}x | {e['max_abs_diff']:.1e} |"
                )
        out.append("")
        out += [
            "facepipe's Haar detector on its decoded copy (one OpenCV thread, min face 40 px): the default"
            " scaleFactor and coarser ones (what-ifs; not facepipe's default):",
            "",
            "| photos | setting | detection size | recall | false positives | ms/photo |",
            "| --- | --- | --- | ---: | ---: | ---: |",
        ]
        for kind, k in tp["kinds"].items():
            for name, v in k.get("haar_settings", {}).items():
                out.append(
                    f"| {kind} | {name} | {v['size']} | {_f(v['recall'], 3)} | {v['false_positives']}"
                    f" | {_f(v['ms_per_photo'], 1)} |"
                )
        out.append("")
        out += [
            "Where each system's seconds went (mean over rounds):",
            "",
            "| photos | system | steps (s) |",
            "| --- | --- | --- |",
        ]
        for kind, k in tp["kinds"].items():
            for name, e in k["systems"].items():
                steps = e.get("steps_s") or e.get("stages_s")
                out.append(f"| {kind} | {name} | " + ", ".join(f"{a} {_f(b, 2)}" for a, b in steps.items()) + " |")
        out.append("")
        for kind, goal in (("phone", 10), ("camera", 3)):
            if kind in tp["kinds"]:
                r = tp["kinds"][kind]["ratio_to_classic"]["facepipe_2p"]["faces_per_s_end_to_end"]
                targets.append((f"faces/s >= {goal}x classic on {kind} photos, 2 cores", f"{r:.2f}x", _met(r >= goal)))

    st = secs["stages"]
    if st:
        out += ["### 2. Where facepipe's time goes (1 process, one shard per day)", ""]
        kinds = list(st["kinds"])
        out += [
            "| stage | " + " | ".join(f"{k}: s | {k}: ms/photo | {k}: share" for k in kinds) + " |",
            "| --- | " + " | ".join("---: | ---: | ---:" for _ in kinds) + " |",
        ]
        order = st["kinds"][kinds[0]]["stage_order"]
        for stage in order:
            cells = []
            for k in kinds:
                r = st["kinds"][k]
                v = r["stages_s"].get(stage, 0.0)
                cells.append(f"{_f(v, 3)} | {_f(1000 * v / max(1, r['images']), 1)} | {_f(100 * v / r['total_s'], 1)}%")
            out.append(f"| {stage} | " + " | ".join(cells) + " |")
        cells = [
            f"{_f(st['kinds'][k]['total_s'], 2)} | {_f(1000 * st['kinds'][k]['total_s'] / max(1, st['kinds'][k]['images']), 1)} | 100%"
            for k in kinds
        ]
        out.append("| **total (plan to index)** | " + " | ".join(cells) + " |")
        out += ["", "| | " + " | ".join(kinds) + " |", "| --- | " + " | ".join("---:" for _ in kinds) + " |"]
        for label, key in (
            ("photos / faces", None),
            ("detection alone (s)", "detect_alone_s"),
            ("embedding alone (s)", "embed_alone_s"),
            ("everything else (s)", "outside_models_s"),
            ("share outside the two models", "outside_models_share"),
        ):
            if key is None:
                out.append(
                    f"| {label} | "
                    + " | ".join(f"{st['kinds'][k]['images']} / {st['kinds'][k]['faces']}" for k in kinds)
                    + " |"
                )
            elif key.endswith("share"):
                out.append(f"| {label} | " + " | ".join(f"**{100 * st['kinds'][k][key]:.1f}%**" for k in kinds) + " |")
            else:
                out.append(f"| {label} | " + " | ".join(_f(st["kinds"][k][key], 2) for k in kinds) + " |")
        out.append("")
        for k in [k for k in kinds if "what-if" not in k]:
            share = st["kinds"][k]["outside_models_share"]
            targets.append(
                (
                    f"outside the two models <= 15% ({k} day of {st['kinds'][k]['images']} photos)",
                    f"{100 * share:.1f}%",
                    _met(share <= 0.15),
                )
            )
        if st.get("decode_ms_per_photo"):
            dk = list(st["decode_ms_per_photo"])
            out += [
                "Decoding alone, ms per photo (the same files):",
                "",
                "| decoder | " + " | ".join(dk) + " |",
                "| --- | " + " | ".join("---:" for _ in dk) + " |",
            ]
            names = list(st["decode_ms_per_photo"][dk[0]])
            for i, n in enumerate(names):
                out.append(
                    f"| {n.split(' (')[0]} | "
                    + " | ".join(
                        f"{list(st['decode_ms_per_photo'][k].values())[i]} ({list(st['decode_ms_per_photo'][k])[i].split(' (')[-1].rstrip(')')})"
                        if "(" in list(st["decode_ms_per_photo"][k])[i] and "imdecode" in n
                        else f"{list(st['decode_ms_per_photo'][k].values())[i]}"
                        for k in dk
                    )
                    + " |"
                )
            out.append("")
        for k in [k for k in kinds if "what-if" not in k]:
            if st["kinds"][k].get("profile_top"):
                out += [
                    f"cProfile, {k} day, top functions by own time (full listing: `bench/results/profile_stages_{k}.txt`):",
                    "",
                    "| function | calls | own s | cumulative s |",
                    "| --- | ---: | ---: | ---: |",
                ]
                for r in st["kinds"][k]["profile_top"][:10]:
                    out.append(f"| `{r['function']}` | {r['calls']:,} | {r['tottime_s']} | {r['cumtime_s']} |")
                out.append("")

    ld = secs["load"]
    if ld:
        out += [
            "### 3. Loading vectors: rows/s, bytes per face, TOAST",
            "",
            "Tables shaped like facepipe's faces (same columns and primary key). Rows per method: "
            + ", ".join(f"{k} {v:,}" for k, v in ld["rows"].items())
            + ".",
            "",
            "| embedding | storage | INSERT per row (text, autocommit) rows/s | executemany rows/s | binary COPY rows/s | COPY / INSERT | bytes/face (total) | heap B/face | TOAST B/face | exact top-10 seq scan, ms |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, c in ld["configs"].items():
            r = c["rows_per_s"]
            ins, many, cp = (
                r.get("INSERT per row (text, autocommit)"),
                r.get("executemany (binary, 1 tx)"),
                r.get("COPY BINARY (1 tx)"),
            )
            ratio = f"{cp / ins:.0f}x" if ins else "-"
            z = c["sizes"]
            out.append(
                f"| {name.split(' ')[0]} | {c['storage']} | {_f(ins, 0)} | {_f(many, 0)} | {_f(cp, 0)} | {ratio}"
                f" | {_f(z['bytes_per_face'], 0)} | {_f(z['heap_bytes_per_face'], 0)} | {_f(z['toast_bytes_per_face'], 0)}"
                f" | {_f(c['exact_scan_ms'], 1)} |"
            )
        out += [
            "",
            f"Exact scan = `ORDER BY embedding <-> q LIMIT 10` over {ld['rows']['COPY BINARY (1 tx)']:,} rows, no index,"
            " no parallel workers, median of "
            f"{next(iter(ld['configs'].values()))['scan_queries']} queries; plans with buffer counts in `bench/results/explain_load_seqscan.txt`.",
            "",
        ]
        targets.append(
            (
                "binary COPY >= 30x per-row INSERT (128-d)",
                f"{ld['copy_vs_insert_128']:.0f}x",
                _met(ld["copy_vs_insert_128"] >= 30),
            )
        )

    an = secs["ann"]
    if an:
        q = an.get("query")
        out += [
            f"### 4. Face search at scale: {an['faces']:,} faces, {an['days']} day partitions, {an['sources']} sources",
            "",
        ]
        if "index" in an:
            ix, lo = an["index"], an["load"]
            out += [
                "| | partitioned (facepipe) | unpartitioned |",
                "| --- | ---: | ---: |",
                f"| HNSW build (m=16, ef_construction=64, 2 parallel workers) | {ix['partition_index_total_s']} s total,"
                f" {ix['partition_index_median_s']} s median per partition of {ix['rows_per_partition']:,} rows"
                f" (index_day, incl. ANALYZE) | {ix['flat_index_s']} s |",
                f"| maintenance_work_mem | {ix['maintenance_work_mem']['partition']} | {ix['maintenance_work_mem']['flat']} |",
                f"| HNSW size | {ix['hnsw_bytes_partitioned'] / 2**20:,.0f} MiB | {ix['hnsw_bytes_flat'] / 2**20:,.0f} MiB |",
                f"| table + PK size | {ix['table_bytes_partitioned'] / 2**20:,.0f} MiB | {ix['table_bytes_flat'] / 2**20:,.0f} MiB |",
                "",
                f"Load: {lo['faces_copy_rows_per_s']:,} faces rows/s by binary COPY ({lo['faces_copy_s']} s), images"
                f" {lo['images_copy_s']} s; synthetic data generated in {an['generate_s']} s."
                + (f" Build notices: {'; '.join(ix['notices'])}." if ix["notices"] else "")
                + (
                    f" Tables and indexes built by `{an['built_by']}`; queried again by this section's command."
                    if an.get("built_by")
                    else ""
                ),
                "",
            ]
        if an.get("incremental"):
            inc = an["incremental"]
            out += [
                f"One more day ({inc['rows']:,} rows) INSERTed into the unpartitioned table whose HNSW index already"
                f" holds {inc['rows_in_index']:,} rows: {inc['insert_into_indexed_s']} s (what a month-partitioned"
                " layout would pay per night instead of a per-day build)"
                + (
                    f"; deleting those rows again and VACUUM (what re-running that day would cost): {inc['delete_vacuum_s']} s"
                    if inc.get("delete_vacuum_s") is not None
                    else ""
                )
                + (f" ({inc['delete_vacuum_note']})" if inc.get("delete_vacuum_note") else "")
                + "."
                + (f" (Measured by `{an['incremental_from']}`.)" if an.get("incremental_from") else ""),
                "",
            ]
        if an.get("source_index"):
            si = an["source_index"]
            out += [
                f"The `faces_source` btree (include/sql/migrations/0001_initial.sql: `faces (source)`, one per partition) over the {an['faces']:,}"
                f" rows: built in {si['build_s']} s, {si['bytes'] / 2**20:,.1f} MiB in {si['partitions']} partitions.",
                "",
            ]
        if an.get("load_day"):
            ld = an["load_day"]
            out += [
                f"A night's load with it: `store.load_day` of one day ({ld['rows']:,} faces staged in shards of"
                f" {ld['shard_size']} photos, the sources in turn), median of {ld['rounds']} alternating rounds:",
                "",
                "| load_day | median s | runs of one source in the partition |",
                "| --- | ---: | ---: |",
            ]
            out += [f"| {k} | {v} | {_f(ld.get('source_runs', {}).get(k))} |" for k, v in ld["median_s"].items()]
            out.append("")
        if not q:
            return "\n".join(out)
        out += [
            f"Top-10 over {q['range']}, {q['queries']} queries (new faces of known identities),"
            " `hnsw.iterative_scan = relaxed_order`; recall@10 against numpy brute force; exact = same SQL with"
            f" `enable_indexscan = off` ({next(iter(q['exact_sql'].values()))['queries']} queries).",
            "",
            "| query | path | ef_search | recall@10 | min recall | same-person recall | p50 ms | p95 ms | exact p50 ms | speed-up |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in q["results"]:
            out.append(
                f"| {r['query']} | {r.get('path', 'sql')} | {_f(r['ef_search'])} | {r['recall_at_10']:.3f} | {r['recall_min']:.1f}"
                f" | {_f(r.get('match_recall'), 3)} | {r['p50_ms']}"
                f" | {r['p95_ms']} | {q['exact_sql'][r['exact_key']]['p50_ms']}"
                f" | {r['speedup_vs_exact_p50']}x |"
            )
        if q.get("matches_in_exact_top10"):
            mt = q["matches_in_exact_top10"]
            out += [
                "",
                f"Same-person recall: of the exact top-10 rows closer than the model's 0.6 threshold (on average"
                f" {mt['unfiltered']} per query unfiltered, {mt['filtered']} with the source filter), the share returned.",
            ]
        if q.get("exact_path_choice"):
            pc = q["exact_path_choice"]
            out += [
                "",
                f"Path: search_faces searches exactly when the planner expects the source filter to keep at most"
                f" {pc['exact_max_rows']:,} rows (`facepipe.search.query.EXACT_MAX_ROWS`); here it expected"
                f" {pc['estimated_rows_min']:,}-{pc['estimated_rows_max']:,}, so {pc['exact_path_queries']} of"
                f" {pc['queries']} filtered queries took the exact path. The estimate (an EXPLAIN) costs"
                f' {pc["estimate_p50_ms"]} ms (p50) of each search. "[HNSW path]" = the same calls with'
                " `exact_max_rows=0`.",
            ]
        if q.get("exact_scaling"):
            out += [
                "",
                "The exact path's cost against the rows it reads (its query with `source = ANY(...)` over 1 to"
                " all sources; p50 ms of 20 queries):",
                "",
                "| sources | rows read | p50 ms | p50 ms, no parallel workers |",
                "| ---: | ---: | ---: | ---: |",
            ]
            out += [
                f"| {x['sources']} | {x['rows']:,} | {x['p50_ms']} | {x['p50_ms_no_parallel']} |"
                for x in q["exact_scaling"]
            ]
        out += [
            "",
            "Plans (EXPLAIN ANALYZE; SQL rows at the first ef_search, search_faces rows at the last; files in"
            " `bench/results/explain_ann_*.txt`): "
            + "; ".join(
                f"{k}{' (ef_search ' + str(v['ef_search']) + ')' if v.get('ef_search') else ''}:"
                f" {'Merge Append, ' if v['merge_append'] else ''}{v['hnsw_index_scans']} HNSW index scans"
                f"{', ' + str(v['source_index_scans']) + ' faces_source index scans' if v.get('source_index_scans') else ''}"
                f"{', ' + str(v['seq_scans']) + ' seq scans' if v['seq_scans'] else ''}"
                f"{', ' + str(v['parallel_workers']) + ' parallel workers' if v.get('parallel_workers') else ''}"
                for k, v in q["plans"].items()
            )
            + ".",
            "",
        ]
        # custom plans: "as called" can run on a generic plan that is an exact scan (see the rows)
        tq = next(
            n
            for n in (
                "facepipe search_faces + source",
                "facepipe search_faces + source [custom plans]",
                "facepipe search_faces + source [as called]",
                "partitioned + source",
            )
            if any(r["query"] == n for r in q["results"])
        )
        ok = [r for r in q["results"] if r["query"] == tq and r["recall_at_10"] >= 0.95 and r["p50_ms"] < 50]
        best = max(
            (r for r in q["results"] if r["query"] == tq),
            key=lambda r: (r["recall_at_10"] >= 0.95, -r["p50_ms"] if r["recall_at_10"] >= 0.95 else r["recall_at_10"]),
        )
        targets.append(
            (
                f"filtered top-10 recall >= 0.95 and p50 < 50 ms ({an['faces']:,} faces, {an['days']} partitions, {tq})",
                f"recall {best['recall_at_10']:.3f}, p50 {best['p50_ms']} ms"
                + (f" ({best['path']} path)" if best.get("path") == "exact" else f" (ef_search {best['ef_search']})"),
                _met(bool(ok)) if an["faces"] >= 1_000_000 else _met(bool(ok)) + " (below 1M: not the target scale)",
            )
        )

    gr = secs["growth"]
    if gr:
        out += [
            f"### 5. One night ({gr['photos']} camera frames, plan to index) with days already loaded",
            "",
            "| days loaded | images in table | faces in table | night, median s | x 1 day | "
            + " | ".join(gr["schemas"][next(iter(gr["schemas"]))]["median_stages_s"])
            + " | seen_before ms/photo |",
            "| ---: | ---: | ---: | ---: | ---: | "
            + " | ".join("---:" for _ in gr["schemas"][next(iter(gr["schemas"]))]["median_stages_s"])
            + " | ---: |",
        ]
        for n, s in gr["schemas"].items():
            out.append(
                f"| {n} | {s['prior']['images']:,} | {s['prior']['faces']:,} | {s['median_total_s']} | {s['vs_1_day']}"
                f" | "
                + " | ".join(_f(v, 2) for v in s["median_stages_s"].values())
                + f" | {s['seen_before_ms_per_call']} |"
            )
        out.append("")
        last = list(gr["schemas"].values())[-1]
        targets.append(
            ("one night within 20% with 90 days loaded", f"{last['vs_1_day']:.2f}x", _met(last["vs_1_day"] <= 1.2))
        )

    if targets:
        out += ["### Targets", "", "| target | measured | |", "| --- | --- | --- |"]
        out += [f"| {a} | {b} | {c} |" for a, b, c in targets]
        out.append("")
    return "\n".join(out)


def render_groups(results: Path) -> str:
    """Section 0: recall by face size per detector setting, and facepipe against the classic loop."""
    g = _load(results, "groups")
    if not g:
        return "(no groups results yet)\n"
    m = g["machine"]
    out = [
        f"`{g['command']}`, finished {g['finished_at']}, {g['wall_s']} s; {m['cpu']}, {m['cores']} cores;"
        f" load average at the end {', '.join(f'{x:.1f}' for x in m.get('loadavg_end', []))}"
        " (other work ran on the machine; the recall tables give CPU time, which it does not inflate).",
        "",
    ]
    targets = []
    for kind, k in g["recall"].items():
        bands = list(next(iter(k["settings"].values()))["recall"])
        out += [
            f"**{k['photos']} photos {k['size']}, {k['true_faces']} true faces** (faces per band:"
            f" {', '.join(f'{b} px: {n}' for b, (_, n) in next(iter(k['settings'].values()))['counts'].items())})",
            "",
            "| detector, setting | CPU ms/photo (decode + detect, 1 thread) | false pos./photo | "
            + " | ".join(f"recall {b} px" for b in bands)
            + " |",
            "| --- | ---: | ---: | " + " | ".join("---:" for _ in bands) + " |",
        ]
        for name, s in k["settings"].items():
            out.append(
                f"| {name} | {_f(s.get('cpu_ms_per_photo', s['ms_per_photo']), 0)}"
                f" | {_f(s['false_positives_per_photo'], 3)} | "
                + " | ".join(_f(s["recall"][b], 3) for b in bands)
                + " |"
            )
        out.append("")
        d = k["settings"].get("mtcnn, min face 64 (default)")
        if d:
            for band, goal in BAND_TARGETS.items():
                r = d["recall"].get(band)
                if r is not None:
                    targets.append(
                        (
                            f"default setting, {k['size']}: recall of {band} px faces >= {goal}",
                            f"{r:.3f}",
                            _met(r >= goal),
                        )
                    )
            fp = d["false_positives_per_photo"]
            targets.append(
                (
                    f"default setting, {k['size']}: false positives <= {FP_TARGET} a photo",
                    f"{fp:.3f}",
                    _met(fp <= FP_TARGET),
                )
            )
    tp = g.get("throughput")
    if tp:
        out += [
            f"**facepipe at its defaults (mtcnn, min face 64, 2 processes) against the classic loop**, on"
            f" {tp['photos']} other 4032x3024 group photos ({tp['true_faces']} true faces), end to end"
            f" (photos to rows, wall time), {tp['rounds']} round(s), alternating order"
            + (f"; measured by the run that finished {tp['carried_over_from']}" if tp.get("carried_over_from") else "")
            + ":",
            "",
            "| system | seconds | faces stored | faces/s | true faces/s | recall | false positives |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, s in tp["systems"].items():
            q = s["quality"]
            out.append(
                f"| {name} | {_f(s['seconds'], 1)} | {s['faces']} | {_f(s['faces_per_s'], 2)}"
                f" | {_f(s['true_faces_per_s'], 2)} | {_f(q['recall'], 3)} | {q['false_positives']} |"
            )
        out += [
            "",
            f"facepipe / classic: {tp['ratio_faces_per_s']}x faces/s, {tp['ratio_true_faces_per_s']}x true faces/s.",
            "",
        ]
    if targets:
        out += ["| target | measured | |", "| --- | --- | --- |"] + [f"| {a} | {b} | {c} |" for a, b, c in targets]
        out.append("")
    return "\n".join(out)


def update_benchmarks_md(
    tables: str, path: Path = BENCH.parent / "BENCHMARKS.md", start: str = START, end: str = END
) -> None:
    text = path.read_text() if path.exists() else f"# Benchmarks\n\n{start}\n{end}\n"
    if start not in text or end not in text:
        text = text.rstrip() + f"\n\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{tables}\n{end}{tail}")


if __name__ == "__main__":
    results = Path(sys.argv[1]) if len(sys.argv) > 1 else BENCH / "results"
    print(render(results))
