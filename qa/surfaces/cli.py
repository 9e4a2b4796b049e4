"""The `qa` command: index, ask, eval, serve."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from qa.core.errors import QAError
from qa.core.settings import DEVICES, MAX_TOP_K, Settings
from qa.core.text import printable

if TYPE_CHECKING:  # annotations only: the CLI imports these where a command needs them, so `qa --help` stays fast
    from qa.surfaces.evaluate import EvalReport
    from qa.answer.search import Hit
    from qa.service import BuildReport, Service

# Options left out take their value from the QA_* settings (qa.core.settings), as app.py does.
data_option = click.option("--data", "data_dir", default=None, type=click.Path(file_okay=False),
                           help="Folder of documents [default: $QA_DATA, else data].")
index_option = click.option("--index", "index_dir", default=None, type=click.Path(file_okay=False),
                            help="Folder of the persisted index [default: $QA_INDEX, else index].")
model_option = click.option("--model", default=None,
                            help="sentence-transformers model id or path [default: $QA_MODEL, else the bundled "
                                 "multilingual-e5-small].")
store_option = click.option("--store", default=None,
                            help="Where the index lives: faiss (in --index), milvus:PATH.db (Milvus Lite) or "
                                 "milvus://HOST:PORT (a Milvus server, shared by replicas) [default: $QA_STORE, "
                                 "else faiss].")

device_option = click.option("--device", default=None, type=click.Choice(DEVICES),
                             help="Where to embed: auto (a CUDA GPU when there is one, else the CPU), cpu or cuda "
                                  "[default: $QA_DEVICE, else auto].")


def _settings(model: str | None = None, store: str | None = None, data: str | None = None,
              index: str | None = None, device: str | None = None, ray: str | None = None,
              ray_workers: int | None = None) -> Settings:
    """The QA_* settings, with the options given on the command line over them."""
    given = {"model": model, "store": store, "data": data, "index": index, "device": device, "ray": ray,
             "ray_workers": ray_workers}
    return replace(Settings.from_env(), **{name: value for name, value in given.items() if value is not None})


def _service(settings: Settings, reader: bool = True) -> Service:
    """The service the settings describe; `reader=False` (--no-reader) turns the reader off whatever QA_READER says."""
    from qa.service import Service

    return Service(settings.data, settings.index, settings=settings if reader else replace(settings, reader=False))


class _Group(click.Group):
    """Shows user errors as one line, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except QAError as e:
            click.echo(f"error: {printable(str(e))}", err=True)
            sys.exit(2)
        except OSError as e:  # a folder given that cannot be made or read: "Not a directory", "Permission denied"
            click.echo(f"error: {e.strerror or e}{f': {e.filename}' if e.filename else ''}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.option("-v", "--verbose", is_flag=True, help="Show debug logging.")
def main(verbose: bool) -> None:
    """Semantic question answering over a folder of documents."""
    from qa.core.logs import configure_logging
    from qa.core.settings import set_native_defaults

    set_native_defaults()
    configure_logging(verbose)


@main.command()
@data_option
@index_option
@model_option
@store_option
@device_option
@click.option("--rebuild", is_flag=True, help="Read and embed every document again, even if the index is up to date.")
@click.option("--watch", is_flag=True, help="Keep running and update the index whenever the data folder changes.")
@click.option("--ray", "ray_address", default=None, metavar="ADDRESS",
              help="Embed on a Ray cluster (pip install -e '.[ray]'): auto (the one `ray start` began here, or "
                   "$RAY_ADDRESS), local (one started for this build) or HOST:PORT [default: $QA_RAY, else here].")
@click.option("--ray-workers", default=None, type=click.IntRange(1),
              help="Embedding workers on the cluster [default: $QA_RAY_WORKERS, else one per GPU, or per CPU].")
def index(data_dir: str | None, index_dir: str | None, model: str | None, store: str | None, device: str | None,
          rebuild: bool, watch: bool, ray_address: str | None, ray_workers: int | None) -> None:
    """Build or update the index of the data folder: only new, changed and removed documents cost work."""
    settings = _settings(model, store, data_dir, index_dir, device, ray_address, ray_workers)
    if settings.ray:
        from qa.embed.ray_cluster import connect

        connect(settings.ray)  # a wrong or unreachable address is said at once, before the model loads
    service = _service(settings)
    click.echo(format_report(service.build(force=rebuild, progress=BuildProgress())))
    if watch:
        from qa.surfaces.watch import follow

        click.echo(f"Watching {service.data_dir} for changes (Ctrl-C to stop).")
        try:
            follow(service, lambda report: click.echo(format_report(report)), progress=BuildProgress())
        except KeyboardInterrupt:
            pass


class BuildProgress:
    """A build's progress on stderr: a bar per stage on a terminal, else a line per stage and every few seconds."""

    STAGES = {"wait": "Waiting for another build to finish", "read": "Reading files", "split": "Splitting passages", "embed": "Embedding texts",
              "write": "Writing the index"}
    EVERY_SECONDS = 10

    def __init__(self):
        self.stage, self.bar, self.said = "", None, 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        import time

        if stage != self.stage:
            self.close()
            self.stage, self.said = stage, 0.0
            if sys.stderr.isatty():
                from tqdm import tqdm

                self.bar = tqdm(total=total, desc=self.STAGES[stage], unit="", leave=False)
        if self.bar is not None:
            self.bar.total = total
            self.bar.n = done
            self.bar.refresh()
        elif done == total or time.monotonic() - self.said >= self.EVERY_SECONDS:
            click.echo(f"{self.STAGES[stage]}: {done}/{total}", err=True)
            self.said = time.monotonic()
        if done == total and stage == "write":
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def format_report(report: BuildReport) -> str:
    """One line saying what a build did and why; a full rebuild says so."""
    if not report.built:
        return f"Nothing to do: {report.reason}."
    skipped = f" ({len(report.warnings)} skipped)" if report.warnings else ""
    what = "Rebuilt the index" if report.full else "Updated the index"
    vectors_only = ("" if report.lexical else " This Milvus has no BM25 full-text search (it needs Milvus 2.5 or "
                    "later): questions are answered from the vectors alone.")
    return (f"{what} ({report.reason}): {_count(report.read, 'file')} read{skipped}, "
            f"{_count(report.embedded, 'passage')} embedded; now {_count(report.documents, 'document')}, "
            f"{_count(report.passages, 'passage')} ({report.seconds:.1f}s).{vectors_only}")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


@main.command()
@click.argument("question", required=False)
@click.option("-k", "--top-k", default=5, show_default=True, type=click.IntRange(1, MAX_TOP_K),
              help="Number of passages.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per question.")
@click.option("--no-reader", is_flag=True, help="Answer without the reader (as QA_READER=off).")
@data_option
@index_option
@model_option
@store_option
@device_option
def ask(question: str | None, top_k: int, as_json: bool, no_reader: bool, data_dir: str | None,
        index_dir: str | None, model: str | None, store: str | None, device: str | None) -> None:
    """Ask QUESTION, or each line of standard input when QUESTION is omitted (a bad line is reported, not fatal)."""
    from qa.answer.search import Result

    service = _service(_settings(model, store, data_dir, index_dir, device), reader=not no_reader)
    if question is not None:
        _show(service.answer(question, top_k), as_json)
        return
    failed = 0
    for number, raw in enumerate(click.get_binary_stream("stdin"), 1):
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            result = Result(raw.decode("utf-8", "replace").strip(), None, [],
                            f"第 {number} 行不是 UTF-8 文本。/ Line {number} is not UTF-8 text.")
        else:
            if not line:
                continue  # blank lines in a batch are separators, not questions
            try:
                result = service.answer(line, top_k)
            except QAError as e:
                result = Result(line, None, [], str(e))
        failed += result.error is not None
        _show(result, as_json)
    if failed:
        sys.exit(1)


def _show(result, as_json: bool) -> None:
    """One result on stdout: a JSON line, or readable text (its error, if any, on stderr)."""
    if as_json:
        click.echo(json.dumps(result.as_json(), ensure_ascii=False))
    elif result.error:
        click.echo(f"error: {printable(result.error)}", err=True)
    else:
        click.echo(format_hits(result.question, result.hits, result.confident))


def format_hits(question: str, hits: list[Hit], confident: bool = True) -> str:
    """Readable text for a terminal; the answer span is shown under each passage."""
    lines = [f"Q: {question}"]
    if not confident:
        lines.append("(Nothing in the documents seems to answer this; the closest passages follow.)")
    for rank, h in enumerate(hits, 1):
        where = f"{h.document} p.{h.page} #{h.position}" if h.page else f"{h.document} #{h.position}"
        meta = " · ".join(x for x in (h.title, h.source, h.date, where) if x)
        lines += [f"\n{rank}. [{h.score:.3f}] {printable(meta)}", f"   {printable(h.text)}"]
        if h.answer:
            lines.append(f"   → {printable(h.answer.text)}")
    return "\n".join(lines) + "\n"


@main.command(name="eval")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--beir", "beir", type=click.Path(exists=True, file_okay=False),
              help="A BEIR folder (corpus.jsonl, queries.jsonl, qrels/): its corpus is indexed and its queries asked.")
@click.option("--split", default="test", show_default=True, help="The qrels file of the BEIR folder.")
@click.option("-k", "--top-k", default=10, show_default=True, type=click.IntRange(1, MAX_TOP_K),
              help="Results per question (MRR@10 and nDCG@10 need 10).")
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON object.")
@click.option("--abstention", is_flag=True,
              help="Index every other gold document only, and score how often the questions of the documents left "
                   "out come back not confident (and the others confident, their document first).")
@click.option("--no-reader", is_flag=True, help="Answer without the reader (as QA_READER=off).")
@data_option
@click.option("--index", "index_dir", default=None, type=click.Path(file_okay=False),
              help="Folder of the index [default: ./index for ./data, else a cached index of that folder].")
@model_option
@store_option
def evaluate(file: str | None, beir: str | None, split: str, top_k: int, as_json: bool, abstention: bool,
             no_reader: bool, data_dir: str | None, index_dir: str | None, model: str | None,
             store: str | None) -> None:
    """Score retrieval on FILE (JSON lines: {"q", "any": [evidence]} or {"q", "doc", "answers"}) or a BEIR folder."""
    from tqdm import tqdm

    from qa.surfaces.evaluate import evaluate as run
    from qa.surfaces.evaluate import read_beir, read_questions, split_gold_documents, write_documents

    if (file is None) == (beir is None):
        raise QAError("Give a question file or --beir DIR (one of them).")
    settings = _settings(model, store, data_dir)
    data_dir = settings.data
    if beir:
        beir_set = read_beir(beir, split)
        documents, questions = beir_set.documents, beir_set.questions
        data_dir = str(_eval_folder(settings, beir) / "data")
        write_documents(documents, Path(data_dir))
    else:
        questions = read_questions(file)
    gone: set[str] = set()
    if abstention:
        split = split_gold_documents(questions)
        if not split.left_out:
            raise QAError("--abstention needs questions that name their gold document ({\"q\", \"doc\", ...}).")
        gone = set(split.left_out)
        source = Path(data_dir)
        data_dir = str(_eval_folder(settings, f"{beir or data_dir}#abstention") / "data")
        write_documents({name: _document_text(source / name) for name in split.kept}, Path(data_dir))
    if index_dir is None:
        own = Path(data_dir) == Path("data")
        index_dir = "index" if own else str(_eval_folder(settings, beir or data_dir) / "index")
    service = _service(replace(settings, data=data_dir, index=index_dir), reader=not no_reader)
    service.build(progress=BuildProgress())
    if abstention:
        from qa.surfaces.evaluate import abstention as run_abstention

        with tqdm(total=len(questions), desc="Asking", unit="question", disable=not sys.stderr.isatty(),
                  leave=False) as bar:
            held = run_abstention(service, questions, gone, on_question=lambda: bar.update())
        if as_json:
            click.echo(json.dumps(asdict(held), ensure_ascii=False))
        else:
            click.echo(f"{len(gone)} of {len(gone) + len(set(d for q in questions for d in q.relevant) - gone)} gold "
                       f"documents left out of the index: {held.gone_not_confident:.2f} of their {held.gone} questions "
                       f"not confident; {held.kept_confident_right:.2f} of the other {held.kept} confident with their "
                       "document first.")
        return
    indexed = {d.document for d in service.info().documents}
    if missing := sorted({d for q in questions for d in q.relevant} - indexed):
        click.echo(f"warning: {len(missing)} gold document(s) are not in the index of {data_dir} (e.g. {missing[0]}): "
                   "their questions count as misses.", err=True)
    with tqdm(total=len(questions), desc="Asking", unit="question", disable=not sys.stderr.isatty(),
              leave=False) as bar:
        report = run(service, questions, top_k, on_question=lambda: bar.update())
    if as_json:
        click.echo(json.dumps(asdict(report), ensure_ascii=False))
        return
    click.echo(format_report_card(report))


def _document_text(path: Path) -> str:
    """A gold document's text, for the folder `--abstention` makes (question sets name plain-text files)."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise QAError(f"Cannot read the gold document {path}: {e}") from e


def _eval_folder(settings: Settings, source: str) -> Path:
    """Where `qa eval` keeps the data and index it makes for a folder it was pointed at, so a rerun costs nothing."""
    import hashlib

    key = hashlib.sha1(str(Path(source).resolve()).encode()).hexdigest()[:12]
    return settings.model_cache.parent / "eval" / f"{Path(source).resolve().name}-{key}"


MISSES_SHOWN = 20


def format_report_card(report: EvalReport) -> str:
    """The scores on one line, then span lengths, the scores by answer kind and the first misses."""
    span = f"{report.span_at_1:.2f}" if report.span_at_1 is not None else "n/a"
    lines = [
        f"{report.questions} questions, top {report.top_k}: hit@1 {report.hit_at_1:.2f}  hit@3 {report.hit_at_3:.2f}  "
        f"hit@5 {report.hit_at_5:.2f}  hit@10 {report.hit_at_10:.2f}  MRR@10 {report.mrr_at_10:.3f}  "
        f"nDCG@10 {report.ndcg_at_10:.3f}  recall@10 {report.recall_at_10:.2f}  answer span@1 {span}"
        + (f"  exact EM {report.exact_em:.2f}  F1 {report.exact_f1:.2f}" if report.exact_em is not None else ""),
        f"answer span length (characters): mean {report.span_lengths.mean:.0f}, median "
        f"{report.span_lengths.median:.0f}, 90th percentile {report.span_lengths.p90:.0f}",
        "by answer kind: " + "; ".join(
            f"{k.kind} ({k.questions}) hit@1 {k.hit_at_1:.2f}"
            + (f" span@1 {k.span_at_1:.2f}" if k.span_at_1 is not None else "") for k in report.kinds),
    ]
    for m in report.misses[:MISSES_SHOWN]:
        where = f"answer at #{m.rank}" if m.rank else f"no answer in the top {report.top_k}"
        lines.append(f"\nmiss ({where}): {m.question}\n  first: {m.first[:120]}")
    if len(report.misses) > MISSES_SHOWN:
        lines.append(f"\n... and {len(report.misses) - MISSES_SHOWN} more misses (--json lists them all).")
    return "\n".join(lines)


@main.command()
@data_option
@index_option
@model_option
@store_option
@device_option
@click.option("--host", default=None, help="Address to bind; 0.0.0.0 exposes it [default: $QA_HOST, else 127.0.0.1].")
@click.option("--port", default=None, type=click.IntRange(0, 65535), help="[default: $QA_PORT, else 7860]")
def serve(data_dir: str | None, index_dir: str | None, model: str | None, store: str | None, device: str | None,
          host: str | None, port: int | None) -> None:
    """Serve the web page and `POST /api/ask` (the same as `python app.py`)."""
    from qa.service import Service
    from qa.surfaces.web import serve as serve_app

    settings = _settings(model, store, data_dir, index_dir, device)
    host, port, auth = host or settings.host, settings.port if port is None else port, settings.auth
    if host not in ("127.0.0.1", "localhost", "::1") and not auth:
        click.echo(f"warning: serving on {host} without a login; set QA_AUTH=user:password to require one.", err=True)
    # the page is served at once; the index and the model load in the background (the page shows how far)
    service = Service(settings.data, settings.index, settings=settings)
    service.preflight()
    serve_app(service, host, port, auth=auth)


if __name__ == "__main__":
    main()
