"""The HTTP contract: request and response models of the REST service.

Records mirror ../shared/spec/RECORDS.md field for field; `Record.to_json()`
output validates against `RecordModel` unchanged.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["amount", "count", "percent", "measure", "score"]
Approx = Literal["exact", "at_least", "about", "at_most"]
Role = Literal["value", "change", "change_rate", "share", "completion", "target"]
Direction = Literal["increase", "decrease", "flat"]

# Authored examples for the API docs (no corpus text in the repository).
EXAMPLE_TEXT = "2023年度部门收入合计1234.56万元，比上年减少120.5万元，下降8.9%。全年开展安全检查45次，发放宣传资料3000余份。"


class _Strict(BaseModel):
    # Unknown fields and lax coercions (0 for false, "1" for true) are refused: the schema is the contract.
    model_config = ConfigDict(extra="forbid", strict=True)


class ExtractOptions(_Strict):
    include_text: bool = Field(False, description="返回服务读取到的全文（上传文件时用于按偏移高亮）")


class ExtractRequest(_Strict):
    text: str = Field(..., description="待抽取的中文文本", examples=[EXAMPLE_TEXT])
    doc: str | None = Field(None, description="文档名称（默认 text）", examples=["绩效自评报告"])
    options: ExtractOptions = Field(default_factory=ExtractOptions)

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
        {"text": EXAMPLE_TEXT, "doc": "绩效自评报告", "options": {"include_text": False}}]})


class BatchDocument(_Strict):
    text: str = Field(..., description="待抽取的中文文本")
    doc: str | None = Field(None, description="文档名称（默认 text-序号）")


class BatchRequest(_Strict):
    documents: list[BatchDocument] = Field(..., description="按顺序处理的文档，结果顺序相同")
    options: ExtractOptions = Field(default_factory=ExtractOptions)

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
        {"documents": [{"text": "培训费支出预算为25万元，支出决算为20.1万元，完成预算的80.4%。", "doc": "决算说明"},
                       {"text": "全年查处交通违法行为1.2万起，组织应急演练6场。", "doc": "工作总结"}]}]})


class Span(BaseModel):
    text: str
    start: int = Field(..., ge=0)
    end: int = Field(..., ge=0)


class Normalized(BaseModel):
    value: str = Field(..., description="基本单位下的规范值（十进制字符串）")
    unit: str
    # Present only for ranges, as in the CLI's output.
    upper: str | None = Field(None, description="区间上限（基本单位），仅区间有", exclude_if=lambda v: v is None)


class RecordModel(BaseModel):
    kind: Kind
    text: str
    start: int = Field(..., ge=0, description="Unicode 码位偏移，text == input[start:end]")
    end: int = Field(..., ge=0)
    value: str
    unit: str
    normalized: Normalized
    approx: Approx
    upper: str | None = None
    role: Role
    direction: Direction | None = None
    metric: Span | None = None
    action: Span | None = None
    period: Span | None = None
    baseline: Span | None = None
    confidence: float | None = Field(None, ge=0, le=1)


class Check(BaseModel):
    """An arithmetic consistency check over records (indexes into `records`)."""

    model_config = ConfigDict(extra="allow")
    kind: str
    status: Literal["ok", "mismatch"]
    records: list[int]
    stated: Any = None
    computed: Any = None
    message: str = ""


class ModelInfo(BaseModel):
    name: str
    version: str


class ExtractResponse(BaseModel):
    doc: str
    model: ModelInfo
    records: list[RecordModel]
    checks: list[Check] = Field(default_factory=list)
    timing_ms: float = Field(..., description="读取与抽取耗时（毫秒）")
    text: str | None = Field(None, description="仅当 options.include_text 为真时返回")


class ErrorDetail(BaseModel):
    code: str = Field(..., examples=["E011"])
    message: str = Field(..., examples=["text: the document has no text"])


class BatchItem(BaseModel):
    """One document of a batch: its result, or the error that stopped it (the others still run)."""

    doc: str
    records: list[RecordModel] | None = None
    checks: list[Check] | None = None
    text: str | None = None
    error: ErrorDetail | None = None


class BatchResponse(BaseModel):
    model: ModelInfo
    results: list[BatchItem]
    timing_ms: float


class ErrorResponse(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok", "ready"]
    model: ModelInfo | None = None


class ModelCard(BaseModel):
    name: str
    version: str
    labels: dict[str, list[str]] = Field(..., description="各字段的取值集合（kind, role, direction, approx）")
    scores: dict[str, Any] | None = Field(None, description="models/<name>/metrics.json 中的评测分数（如有）")
    source: str | None = Field(None, description="模型文件夹（如有）")
