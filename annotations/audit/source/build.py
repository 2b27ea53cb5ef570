"""Builds ../jixiao.jsonl from the marked-up drafts here.

A planted slip is written inline as {{kind|stated|correct|note}}: the built text keeps
`stated`, and the slip records its offsets. Run: python annotations/audit/source/build.py
"""
import json, re
from pathlib import Path

HERE = Path(__file__).resolve().parent
docs = []
for f in (HERE / "docs1.py", HERE / "docs2.py", HERE / "docs3.py"):
    ns = {}; exec(f.read_text(encoding="utf-8"), ns); docs += ns["DOCS"]
MARK = re.compile(r"\{\{(?P<kind>[a-z_]+)\|(?P<stated>[^|]+)\|(?P<correct>[^|]+)\|(?P<note>[^}]+)\}\}")
exec((HERE / "extra.py").read_text(encoding="utf-8"))
NUM = "一二三四五六七八九十"
ORG = {"jiaoyu": "县教育局", "weijian": "县卫生健康委员会", "nongye": "县农业农村局", "minzheng": "县民政局",
       "zhujian": "县住房和城乡建设局", "jiaotong": "县交通运输局", "shuili": "县水利局", "dangan": "县档案馆",
       "jikong": "县疾病预防控制中心", "canlian": "县残疾人联合会", "renshe": "县人力资源和社会保障局"}
def extend(name, text):
    k = sum(1 for line in text.split("\n") if len(line) > 1 and line[0] in NUM and line[1] == "、")
    i = len(out)
    org = ORG[name.split("-")[0]]
    score = ["94.5", "92.0", "95.5", "91.5", "93.0", "96.0", "90.5", "94.0"][i % 8]
    grade = "优"
    text = text.rstrip("\n") + "\n\n" + MANAGE[i % 3].format(n=NUM[k], org=org)
    text += "\n" + LESSONS[i % 3].format(n=NUM[k + 1])
    text += "\n" + CONCLUDE[i % 2].format(n=NUM[k + 2], org=org, score=score, grade=grade)
    return text
out = []
for name, src in docs:
    text, slips, pos, last = "", [], 0, 0
    for m in MARK.finditer(src):
        text += src[last:m.start()]
        start = len(text); text += m.group("stated")
        slips.append({"kind": m.group("kind"), "start": start, "end": len(text), "stated": m.group("stated"),
                      "correct": m.group("correct"), "note": m.group("note")})
        last = m.end()
    text += src[last:]
    text = extend(name, text)
    assert "{{" not in text
    out.append({"id": f"audit-{name}", "genre": "jixiao", "text": text, "slips": slips})
    print(name, len(text), [s["kind"] for s in slips])
with open(HERE.parent / "jixiao.jsonl", "w", encoding="utf-8") as fh:
    for d in out: fh.write(json.dumps(d, ensure_ascii=False) + "\n")
