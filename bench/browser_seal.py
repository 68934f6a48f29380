"""The form sealing a file in headless Chromium, against bare secretstream in the same page.

Debian's Chromium, through Playwright, loads the real form from a real ``vault intake
serve``. A file written to disk (random bytes) is given to a file input, as a reporter
picks one, so the page holds a disk-backed ``File``. Then, taking turns:

* ours: the page's own ``sealFile`` (``vault/intake/static/seal.js``): read the file as a
  stream, pad it, seal it in 64 KiB ``crypto_secretstream`` chunks, and hand each sealed chunk
  to the worker beside the page (``seal-worker.js``), which starts its digest for the blob id
  (``blob-id.js``: the hash list of docs/format.md, each chunk hashed by the browser's own
  SHA-256, ``crypto.subtle.digest``) and then drops it (``{sink: "drop"}``): the sealing alone,
  which the 1.5x target is about;
* in page: the same ``sealFile`` with no worker (``{worker: false}``, what the page does
  where no worker starts), also dropping what it sealed;
* bare: libsodium's ``crypto_secretstream_xchacha20poly1305_push`` over the same number of
  64 KiB chunks (the padded length), one reused in-page buffer: no reading, no hash, no upload;
* upload (CPU not throttled only): the form's own ``sealFile`` as the form calls it, uploading
  in parts to this bench's real intake as it seals (``upload-parts.js``: an upload opened with
  a proof of work, 8 MiB parts PUT one at a time, then its end; the intake's blob id checked
  against the page's). Each blob is acknowledged (deleted) after its run.

Each at 25 MiB and 500 MiB, and again with the page's CPU throttled 4x through the
DevTools protocol (``Emulation.setCPUThrottlingRate``, as a mid-range phone). That throttles
the page's main thread only (Chromium's ``ThreadCPUThrottler`` signals the one thread that set
it), never a worker, so in the throttled rows the worker slows itself by the same factor
(``slowWorker``: after each message it spins for 3 times as long as its own work took, as
Chromium's signal handler spins the main thread). The digests themselves run on the renderer's
thread pool, which nothing slows. Times are ``performance.now()`` inside the page. Target:
ours at most 1.5x bare. The worker is started and ready before the first run (the form starts
it as the page loads).

CPU: each thread's CPU time (``/proc/PID/task/TID/stat``) before and after each run, split
into the page's main thread, the worker, the renderer's thread pool (the digests, and V8's
background garbage collection, which bare's runs show there too), and every other thread
(the browser's reading of the file and its Blob store). On a machine whose cores
are busy with other work the wall-clock ratio follows the total CPU a design needs; where
cores are free (a phone), it follows the busiest thread. So both are reported.

Memory: while each run seals, the RSS of Chromium's renderer processes (``/proc``, found
with ``SystemInfo.getProcessInfo``; the others are idle) is sampled every 20 ms; the figure
is the sum of their peaks minus their RSS just before. Flat means the 500 MiB file costs
the page no more than the 25 MiB one (within 64 MiB): the file is never read whole and
the sealed bytes leave the page a part at a time. The browser process, which held the whole
sealed file as a ``Blob`` until it was uploaded when the form uploaded it whole, is reported
beside it, for the dropping rows and for the upload; flat there means the same for it.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.common import Timer, interleaved
from bench.intake import CHROMIUM, CHROMIUM_ARGS, Setup
from vault.attachments import sealed_length
from vault.intake.auth import sign_request

TARGET = 1.5  # × bare secretstream
FLAT_MIB = 64  # the 500 MiB file may cost the renderer at most this much more than 25 MiB
THROTTLE = 4
PLATEAU = 3  # memory only: a file this many times the large size, once each way

ADD_INPUT = """() => {
  const input = document.createElement("input");
  input.type = "file";
  input.id = "bench-file";
  document.body.append(input);
}"""

START_WORKER = """async () => {
  const seal = await import(new URL("/static/seal.js", location.href).href);
  return (await seal.startSealer()) !== null && Boolean(globalThis.crypto.subtle);
}"""

PAGE_SEAL = """async (options) => {
  await window.sodium.ready;
  const seal = await import(new URL("/static/seal.js", location.href).href);
  const file = document.getElementById("bench-file").files[0];
  const start = performance.now();
  const sealed = await seal.sealFile(window.sodium, file, null, options);
  const ms = performance.now() - start;
  if (sealed.server !== null && sealed.server !== sealed.blob) throw new Error("wrong blob id");
  return { ms, size: sealed.size, blob: sealed.blob };
}"""

PAGE_BARE = """async (size) => {
  await window.sodium.ready;
  const sodium = window.sodium;
  const seal = await import(new URL("/static/seal.js", location.href).href);
  const total = seal.paddedLength(size);
  const chunk = crypto.getRandomValues(new Uint8Array(65536));
  const start = performance.now();
  const key = sodium.crypto_secretstream_xchacha20poly1305_keygen();
  const { state } = sodium.crypto_secretstream_xchacha20poly1305_init_push(key);
  const MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
  const FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL;
  let sealed = 24;
  for (let at = 0; at < total; at += 65536) {
    const end = Math.min(at + 65536, total);
    const tag = end === total ? FINAL : MESSAGE;
    sealed += sodium.crypto_secretstream_xchacha20poly1305_push(
      state, chunk.subarray(0, end - at), null, tag).length;
  }
  return { ms: performance.now() - start, size: sealed };
}"""


_HZ = os.sysconf("SC_CLK_TCK")


def _thread_cpu(pids: list[int]) -> dict[tuple[int, int, str], float]:
    """CPU seconds (user + system) of every thread of ``pids``: {(pid, tid, name): s}."""
    out = {}
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/stat", encoding="ascii", errors="replace") as f:
                    stat = f.read()
            except OSError:
                continue
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            out[(pid, int(tid), name)] = (int(fields[11]) + int(fields[12])) / _HZ
    return out


def _cpu_split(
    before: dict[tuple[int, int, str], float],
    after: dict[tuple[int, int, str], float],
    renderers: list[int],
) -> tuple[float, float, float, float]:
    """(the renderers' main threads, their dedicated workers, their thread pools (WebCrypto's
    digests), every other thread, the browser process's included) CPU seconds."""
    main = worker = pool = other = 0.0
    for key, seconds in after.items():
        used = seconds - before.get(key, 0.0)
        pid, tid, name = key
        if pid == tid and pid in renderers:
            main += used
        elif name.startswith("DedicatedWorker"):
            worker += used
        elif name.startswith("ThreadPool") and pid in renderers:
            pool += used
        else:
            other += used
    return main, worker, pool, other


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@contextmanager
def _peak_rss(pids: list[int]) -> Iterator[dict[int, int]]:
    """Sample each pid's RSS every 20 ms; yields {pid: peak KiB}, filled in on exit, with
    {-pid: KiB before}."""
    peaks = {pid: _rss_kib(pid) for pid in pids}
    before = {-pid: kib for pid, kib in peaks.items()}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for pid in pids:
                peaks[pid] = max(peaks[pid], _rss_kib(pid))
            time.sleep(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    result: dict[int, int] = {}
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        result.update(peaks)
        result.update(before)


def run(quick: bool, repeats: int, say: Callable[[str], None]) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        raise RuntimeError(f"the browser benchmark needs Chromium at {CHROMIUM} (set CHROMIUM)")
    sizes = (25, 100) if quick else (25, 500)
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="redress-bench-seal-") as tmp:
        root = Path(tmp)
        setup = Setup(root)
        biggest = str(PLATEAU * max(sizes) + 1)
        with setup.server("seal", "--max-file-mib", biggest) as server, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                version = browser.version
                page = browser.new_page()
                page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
                page.goto(server.url + "/")
                page.wait_for_function("window.sodium !== undefined")
                page.evaluate("window.sodium.ready.then(() => true)")
                page.evaluate(ADD_INPUT)
                intake = httpx.Client(base_url=server.url, timeout=60)

                def ack(blob: str) -> None:
                    """Delete an uploaded blob (a signed acknowledgement), so the disk stays
                    as it was."""
                    body = json.dumps({"blobs": [blob]}).encode()
                    headers = sign_request(setup.caseworker, "POST", "/api/ack", body)
                    headers["Content-Type"] = "application/json"
                    answer = intake.post("/api/ack", content=body, headers=headers)
                    if answer.status_code != 200 or answer.json().get("deleted") != 1:
                        raise RuntimeError(f"the blob was not acknowledged: {answer.text}")

                if not page.evaluate(START_WORKER):
                    raise RuntimeError("the page's sealing worker or crypto.subtle is missing")
                cdp = page.context.new_cdp_session(page)
                info = browser.new_browser_cdp_session().send("SystemInfo.getProcessInfo")
                kinds = {int(p["id"]): p["type"] for p in info["processInfo"]}
                renderer = [pid for pid, kind in kinds.items() if kind == "renderer"]
                main = [pid for pid, kind in kinds.items() if kind == "browser"]
                if not renderer or len(main) != 1:
                    raise RuntimeError(f"expected renderers and one browser process: {kinds}")
                for mib in sizes:
                    path = root / f"evidence-{mib}.bin"
                    with open(path, "wb") as f:
                        for _ in range(mib):
                            f.write(os.urandom(1 << 20))
                    page.set_input_files("#bench-file", str(path))
                    for rate in (1, THROTTLE):
                        cdp.send("Emulation.setCPUThrottlingRate", {"rate": rate})
                        rows.append(
                            _measure(page, mib, rate, renderer, main[0], repeats, quick, say, ack)
                        )
                    cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1})
                    page.set_input_files("#bench-file", [])
                    path.unlink()
                plateau = _plateau(page, root, PLATEAU * sizes[1], renderer, main[0], say, ack)
            finally:
                browser.close()
    if problems:
        raise RuntimeError(f"the page reported errors: {problems}")
    small = [r for r in rows if r["mib"] == sizes[0]]
    large = [r for r in rows if r["mib"] == sizes[1]]
    flat = max(r["renderer_growth_mib"] for r in large) <= (
        max(r["renderer_growth_mib"] for r in small) + FLAT_MIB
    )
    uploads_small = [r for r in small if "upload_median_s" in r]
    uploads_large = [r for r in large if "upload_median_s" in r]
    upload_flat = all(
        max(r[key] for r in uploads_large) <= max(r[key] for r in uploads_small) + FLAT_MIB
        for key in ("upload_renderer_growth_mib", "upload_browser_growth_mib")
    )

    # The same, counting only what the page holds beyond bare secretstream's own growth in the
    # same run (V8 collects the arrays libsodium returns lazily, bare's as ours): what sealing
    # adds does not grow with the file.
    def beyond(r: dict[str, Any]) -> float:
        return float(r["renderer_growth_mib"] - r["bare_renderer_growth_mib"])

    flat_beyond_bare = max(map(beyond, large)) <= max(map(beyond, small)) + FLAT_MIB
    grows = max(r["renderer_growth_mib"] for r in large)
    plateau["flat_beyond_bare"] = (
        plateau["renderer_growth_mib"] - plateau["bare_renderer_growth_mib"]
        <= max(map(beyond, large)) + FLAT_MIB
    )
    upload_grows = {
        key: max(r[key] for r in uploads_large)
        for key in ("upload_renderer_growth_mib", "upload_browser_growth_mib")
    }
    plateau["flat"] = plateau["renderer_growth_mib"] <= grows + FLAT_MIB
    plateau["upload_flat"] = all(
        plateau[key] <= upload_grows[key] + FLAT_MIB for key in upload_grows
    )
    return {
        "chromium": version,
        "sizes_mib": list(sizes),
        "throttle": THROTTLE,
        "rows": rows,
        "memory_flat": flat,
        "memory_flat_beyond_bare": flat_beyond_bare,
        "upload_memory_flat": upload_flat,
        "plateau": plateau,
        "seconds": time.perf_counter() - started,
    }


def _plateau(
    page: Any,
    root: Path,
    mib: int,
    renderers: list[int],
    main: int,
    say: Callable[[str], None],
    ack: Callable[[str], None],
) -> dict[str, Any]:
    """Memory only: a file PLATEAU times the large size, sealed dropping what it seals and by
    bare secretstream (three runs each, taking turns: the median of each), and uploaded in
    parts as the form does (one run: it takes the longest), CPU not throttled. Flat means it
    costs no more than the large file did (within FLAT_MIB): what the page holds does not
    grow with the file."""
    path = root / f"evidence-{mib}.bin"
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(1 << 20))
    page.set_input_files("#bench-file", str(path))
    out: dict[str, Any] = {"mib": mib}
    runs: dict[str, list[tuple[float, float, float]]] = {"": [], "bare_": [], "upload_": []}
    turns = [("", PAGE_SEAL, {"sink": "drop"}), ("bare_", PAGE_BARE, mib << 20)] * 3
    try:
        for name, script, arg in [*turns, ("upload_", PAGE_SEAL, {})]:
            with _peak_rss([*renderers, main]) as rss:
                result = page.evaluate(script, arg)
            if result["size"] != sealed_length(mib << 20):
                raise RuntimeError(f"{name or 'sealFile'} sealed {result['size']} bytes")
            if name == "upload_":
                ack(result["blob"])
            grown = sum(rss[r] - rss[-r] for r in renderers) / 1024
            runs[name].append((grown, (rss[main] - rss[-main]) / 1024, result["ms"] / 1000))
            say(
                f"  plateau, {mib} MiB, {name or 'sealFile '}: {result['ms']:.0f} ms, renderer"
                f" +{grown:.0f} MiB, browser +{runs[name][-1][1]:.0f} MiB"
            )
            page.evaluate("() => new Promise(r => setTimeout(r, 200))")
    finally:
        page.set_input_files("#bench-file", [])
        path.unlink()
    for name, got in runs.items():
        out[f"{name}renderer_growth_mib"] = statistics.median(g[0] for g in got)
        out[f"{name}browser_growth_mib"] = statistics.median(g[1] for g in got)
        out[f"{name}s"] = statistics.median(g[2] for g in got)
        out[f"{name}renderer_growth_runs_mib"] = [g[0] for g in got]
    return out


def _measure(
    page: Any,
    mib: int,
    rate: int,
    renderers: list[int],
    main: int,
    repeats: int,
    quick: bool,
    say: Callable[[str], None],
    ack: Callable[[str], None],
) -> dict[str, Any]:
    size = mib << 20
    want = sealed_length(size)
    say(f"seal: a {mib} MiB file in Chromium, CPU throttled {rate}x")
    memory: dict[str, list[tuple[int, int]]] = {"sealFile": [], "in page": [], "bare": []}
    if rate == 1:
        memory["upload"] = []
    cpu: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in memory}

    def case(name: str, script: str, arg: object) -> Callable[[], Timer]:
        def one() -> Timer:
            before = _thread_cpu([*renderers, main])
            with _peak_rss([*renderers, main]) as rss:
                result = page.evaluate(script, arg)
            cpu[name].append(_cpu_split(before, _thread_cpu([*renderers, main]), renderers))
            if result["size"] != want:
                raise RuntimeError(f"{name} sealed {result['size']} bytes, not {want}")
            grown = sum(rss[r] - rss[-r] for r in renderers)
            memory[name].append((grown, rss[main] - rss[-main]))
            if name == "upload":
                ack(result["blob"])
            page.evaluate("() => new Promise(r => setTimeout(r, 200))")  # let go of what it held
            timer = Timer()
            timer.wall = timer.cpu = result["ms"] / 1000
            return timer

        return one

    # Small runs are cheap and noisy: five at least; the 500 MiB ones take seconds each.
    runs_wanted = max(repeats, 5) if mib <= 100 else max(1, min(repeats, 2 if quick else 3))
    cases = {
        "sealFile": case("sealFile", PAGE_SEAL, {"slowWorker": rate, "sink": "drop"}),
        "in page": case("in page", PAGE_SEAL, {"worker": False, "sink": "drop"}),
        "bare": case("bare", PAGE_BARE, size),
    }
    if rate == 1:  # the form's own call: uploading in parts as it seals
        cases["upload"] = case("upload", PAGE_SEAL, {})
    runs = interleaved(cases, runs_wanted, say=say)
    ours = statistics.median(t.wall for t in runs["sealFile"])
    bare = statistics.median(t.wall for t in runs["bare"])
    in_page = statistics.median(t.wall for t in runs["in page"])
    # CPU by thread (medians): what each design costs the page's own thread and the worker,
    # which decides its speed where cores are free, whatever the machine's load.
    cpu_of = {
        name: tuple(statistics.median(run[i] for run in cpu[name]) for i in range(4))
        for name in cpu
    }
    bare_main = cpu_of["bare"][0] or float("nan")
    renderer_growth = max(r for r, _ in memory["sealFile"]) / 1024
    browser_growth = max(b for _, b in memory["sealFile"]) / 1024
    upload: dict[str, Any] = {}
    if "upload" in runs:
        uploaded = statistics.median(t.wall for t in runs["upload"])
        upload = {
            "upload_median_s": uploaded,
            "upload_ratio": uploaded / bare,
            "upload_wall_s": [t.wall for t in runs["upload"]],
            "upload_renderer_growth_mib": max(r for r, _ in memory["upload"]) / 1024,
            "upload_browser_growth_mib": max(b for _, b in memory["upload"]) / 1024,
        }
    return {
        "name": f"seal a {mib} MiB file in Chromium"
        + (f", CPU {rate}x slower" if rate > 1 else ""),
        "mib": mib,
        "throttle": rate,
        "median_s": ours,
        "reference_median_s": bare,
        "ratio": ours / bare,
        "wall_s": [t.wall for t in runs["sealFile"]],
        "reference_wall_s": [t.wall for t in runs["bare"]],
        "in_page_median_s": in_page,
        "in_page_ratio": in_page / bare,
        "in_page_wall_s": [t.wall for t in runs["in page"]],
        "target": f"≤ {TARGET}× bare",
        "met": ours / bare <= TARGET,
        "renderer_growth_mib": renderer_growth,
        "bare_renderer_growth_mib": max(r for r, _ in memory["bare"]) / 1024,
        "in_page_renderer_growth_mib": max(r for r, _ in memory["in page"]) / 1024,
        "cpu_s": {
            name: dict(zip(("main", "worker", "digests", "other"), v, strict=True))
            for name, v in cpu_of.items()
        },
        "main_cpu_ratio": cpu_of["sealFile"][0] / bare_main,
        "worker_cpu_ratio": cpu_of["sealFile"][1] / bare_main,
        "in_page_main_cpu_ratio": cpu_of["in page"][0] / bare_main,
        "browser_growth_mib": browser_growth,
        "note": _note(mib, ours, in_page, bare, cpu_of),
        **upload,
    }


def _note(
    mib: int, ours: float, in_page: float, bare: float, cpu: dict[str, tuple[float, ...]]
) -> str:
    main, worker, digests, other = (x * 1000 for x in cpu["sealFile"])
    page_main, _, page_digests, page_other = (x * 1000 for x in cpu["in page"])
    bare_main = cpu["bare"][0] * 1000 or float("nan")
    return (
        f"{mib / ours:.0f} MiB/s ({mib / in_page:.0f} MiB/s all in the page) against"
        f" {mib / bare:.0f} MiB/s bare; CPU of the page's thread {main:.0f} ms and of the"
        f" worker {worker:.0f} ms ({main / bare_main:.2f}× and {worker / bare_main:.2f}× bare's"
        f" {bare_main:.0f} ms), the thread pool (digests, GC) {digests:.0f} ms, other threads"
        f" (the browser reading the file) {other:.0f} ms; all in the page: the page's thread"
        f" {page_main:.0f} ms ({page_main / bare_main:.2f}×), thread pool {page_digests:.0f} ms,"
        f" other {page_other:.0f} ms"
    )


def table(doc: dict[str, Any]) -> str:
    lines = [
        "| benchmark | ours, worker (median) | all in the page (median) "
        "| bare secretstream (median) | ratio | in-page ratio | target | met "
        "| renderer RSS growth | the same in page | the same for bare | browser RSS growth |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in doc["rows"]:
        lines.append(
            f"| {r['name']} | {r['median_s'] * 1000:.0f} ms | "
            f"{r['in_page_median_s'] * 1000:.0f} ms | "
            f"{r['reference_median_s'] * 1000:.0f} ms | {r['ratio']:.2f}× | "
            f"{r['in_page_ratio']:.2f}× | {r['target']} | "
            f"{'yes' if r['met'] else '**no**'} | {r['renderer_growth_mib']:.0f} MiB | "
            f"{r['in_page_renderer_growth_mib']:.0f} MiB | "
            f"{r['bare_renderer_growth_mib']:.0f} MiB | {r['browser_growth_mib']:.0f} MiB |"
        )
    lines += [
        "",
        f"Chromium {doc['chromium']}. Memory flat (the page's renderer grows no more for "
        f"{doc['sizes_mib'][1]} MiB than for {doc['sizes_mib'][0]} MiB, within {FLAT_MIB} MiB): "
        f"{'yes' if doc['memory_flat'] else '**no**'}; counting only its growth beyond bare "
        f"secretstream's in the same run: {'yes' if doc['memory_flat_beyond_bare'] else '**no**'}.",
    ]
    lines += [f"- {r['name']}: {r['note']}" for r in doc["rows"]]
    uploads = [r for r in doc["rows"] if "upload_median_s" in r]
    if uploads:
        lines += [
            "",
            "The form's own call, uploading in parts to the intake as it seals, against the "
            "sealing alone (which drops what it sealed):",
            "",
            "| benchmark | upload in parts (median) | ratio to bare | renderer RSS growth "
            "| browser RSS growth | the same, sealing alone: renderer | browser |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in uploads:
            lines.append(
                f"| {r['name']} | {r['upload_median_s'] * 1000:.0f} ms | "
                f"{r['upload_ratio']:.2f}× | {r['upload_renderer_growth_mib']:.0f} MiB | "
                f"{r['upload_browser_growth_mib']:.0f} MiB | "
                f"{r['renderer_growth_mib']:.0f} MiB | {r['browser_growth_mib']:.0f} MiB |"
            )
        lines += [
            "",
            f"Memory flat while uploading (renderer and browser process, {doc['sizes_mib'][1]} "
            f"MiB against {doc['sizes_mib'][0]} MiB, within {FLAT_MIB} MiB): "
            f"{'yes' if doc['upload_memory_flat'] else '**no**'}.",
        ]
    q = doc.get("plateau")
    if q:
        lines += [
            "",
            f"Memory as the file grows {PLATEAU}x more ({q['mib']} MiB, CPU not throttled; medians"
            " of 3 runs, the upload 1; RSS growth, renderer / browser process): sealing alone"
            f" {q['renderer_growth_mib']:.0f} / {q['browser_growth_mib']:.0f} MiB"
            f" ({q['s']:.2f} s), bare {q['bare_renderer_growth_mib']:.0f} /"
            f" {q['bare_browser_growth_mib']:.0f} MiB ({q['bare_s']:.2f} s), uploading in parts"
            f" {q['upload_renderer_growth_mib']:.0f} / {q['upload_browser_growth_mib']:.0f} MiB"
            f" ({q['upload_s']:.2f} s). No more than for {doc['sizes_mib'][1]} MiB (within"
            f" {FLAT_MIB} MiB): sealing alone {'yes' if q['flat'] else '**no**'} (beyond bare's"
            f" growth: {'yes' if q['flat_beyond_bare'] else '**no**'}), uploading"
            f" {'yes' if q['upload_flat'] else '**no**'}.",
        ]
    return "\n".join(lines)
