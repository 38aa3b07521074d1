"""Build the dataset suite (bench/suite.yaml) from pinned public GitHub snapshots; no data is committed.

Nothing is downloaded. Inputs are read either from bare git mirrors (as brought
by the `fetch` tool, e.g. /work/.mirror/<owner>+<name>/repo) at the pinned
commits below, or from a directory of raw files extracted from them
(--raw-dir DIR, laid out as DIR/<owner>+<name>/<path-in-repo>).

Usage:
    python -m bench.build_suite [--mirror-root /work/.mirror] [--raw-dir DIR]
                    [--git-dir owner/name=PATH ...] [--out /work/datasets]
                    [--only sms_spam,imdb,...]

Requires: Python 3.9+, pandas, pyarrow (for the IMDb parquet files), git on PATH
(only in mirror mode). Every input file is checked against the md5 recorded
below before use, so a wrong snapshot fails loudly instead of silently
producing different data.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pandas as pd

# --------------------------------------------------------------------------
# Pinned sources: repo -> commit the files are read from.
# --------------------------------------------------------------------------
SMS_REPO, SMS_COMMIT = "PARKER-X/SpamClassifier", "5fa41eaf3ec0d21d3ffced673800d25b6b8ffc20"
IMDB_REPO, IMDB_COMMIT = (
    "iamsorenl/Feature-Engineering-and-Sentiment-Analysis",
    "55144e2ea1de74c60ce9190a47b605b4b071e0ee",
)
SST2_REPO, SST2_COMMIT = "tacchinotacchi/distil-bilstm", "44d3abb1ef7f54d000d95f2634b9b2a275cd4b01"
TREC_REPO, TREC_COMMIT = "harvardnlp/sent-conv-torch", "d61ded09c99c0199d8c5bca946cd65864de2b296"
AG_REPO, AG_COMMIT = "mhjabreel/CharCNN", "36791268d7eec96dc3330cf7eedbfb427524b604"
AGS_REPO, AGS_COMMIT = "lst11111/bert-text-classification", "d52bf84e15f59794226916f08e74702b3f70389c"
MRPC_REPO, MRPC_COMMIT = "MorvanZhou/NLP-Tutorials", "8cc01b1844be3787b520e831735126937f92850c"
CLINC_REPO, CLINC_COMMIT = "clinc/oos-eval", "828f8093932c8fe6ca7936c3d2e52903b1c523de"
# PolyAI-LDN/task-specific-datasets is not mirrored here; donnytk's fork carries its history. The
# commit is PolyAI's last (the fork's own later commits strip quotes and commas from the texts).
BANKING_REPO, BANKING_COMMIT = "donnytk/task-specific-datasets", "b65078de17ed68535c1587bb9cc975d461b10148"

# md5 of every single input file (bytes exactly as stored in git).
MD5 = {
    (SMS_REPO, "smsspamcollection/SMSSpamCollection"): "1949b64a224790d01335c2bf8a0e48b2",
    (SST2_REPO, "SST-2/train.tsv"): "da409a0a939379ed32a470bc0f7fe99a",
    (SST2_REPO, "SST-2/dev.tsv"): "268856b487b2a31a28c0a93daaff7288",
    (SST2_REPO, "SST-2/test.tsv"): "3230e4efec76488b87877a56ae49675a",
    (TREC_REPO, "data/raw/TREC.train"): "073462e3fcefaae31e00edb1f18d2d02",
    (TREC_REPO, "data/raw/TREC.test"): "323a3554401d86e650717e2d2f942589",
    (AG_REPO, "data/ag_news_csv/test.csv"): "d52ea96a97a2d943681189a97654912d",
    (AG_REPO, "data/ag_news_csv/classes.txt"): "eb57fd781a350c341c55d4dcfc46782a",
    (AG_REPO, "data/ag_news_csv/readme.txt"): "3912d050577ebbb91edbbaa12edfbdae",
    (AGS_REPO, "data/ag_news/train.csv"): "0c260391acaa764f8a90ac4bcb0e619b",
    (MRPC_REPO, "MRPC/msr_paraphrase_train.txt"): "3dd4972e509810550d80818e9f400f4b",
    (MRPC_REPO, "MRPC/msr_paraphrase_test.txt"): "b63292b0f5baf9aa6c33aa33dfdb22e3",
    (CLINC_REPO, "data/data_full.json"): "30c29dc6ab78edf3b5dfa640be204cde",
    (BANKING_REPO, "banking_data/train.csv"): "cec64185f4197906aabce0781ef9a19b",
    (BANKING_REPO, "banking_data/test.csv"): "8dcd9dc31b686c75ec1f24bf23c140cb",
}
# md5 over the 50,000 labelled IMDb reviews: for each file in sorted path order,
# update with b"<path>\0<content>\0".
IMDB_TREE_MD5 = "c20e094bb2e3037315332f8be8ca5003"

SEED = 42  # used for the SMS stratified split (see split_sms)


# --------------------------------------------------------------------------
# Input access
# --------------------------------------------------------------------------
class Inputs:
    def __init__(self, mirror_root: Path, raw_dir: Path | None, overrides: dict[str, Path]):
        self.mirror_root = mirror_root
        self.raw_dir = raw_dir
        self.overrides = overrides

    def git_dir(self, repo: str) -> Path:
        if repo in self.overrides:
            return self.overrides[repo]
        base = self.mirror_root / repo.replace("/", "+")
        for cand in (base / "repo" / ".git", base / "repo", base / ".git", base):
            if (cand / "HEAD").is_file() and (cand / "objects").is_dir():
                return cand
        raise SystemExit(f"no git mirror for {repo} under {base}; pass --git-dir {repo}=PATH")

    def raw_path(self, repo: str, path: str) -> Path | None:
        if self.raw_dir is None:
            return None
        p = self.raw_dir / repo.replace("/", "+") / path
        return p

    def read(self, repo: str, commit: str, path: str) -> bytes:
        rp = self.raw_path(repo, path)
        if rp is not None:
            data = rp.read_bytes()
        else:
            data = subprocess.run(
                ["git", "--git-dir", str(self.git_dir(repo)), "show", f"{commit}:{path}"],
                check=True,
                capture_output=True,
            ).stdout
        want = MD5.get((repo, path))
        got = hashlib.md5(data).hexdigest()
        if want is not None and got != want:
            raise SystemExit(f"md5 mismatch for {repo}:{path}: {got} != {want}")
        return data

    def read_tree(self, repo: str, commit: str, prefixes: list[str]) -> dict[str, bytes]:
        """All files under the given folders -> {path: bytes}."""
        out: dict[str, bytes] = {}
        if self.raw_dir is not None:
            root = self.raw_dir / repo.replace("/", "+")
            for pre in prefixes:
                for p in sorted((root / pre).iterdir()):
                    if p.is_file():
                        out[f"{pre.rstrip('/')}/{p.name}"] = p.read_bytes()
            return out
        proc = subprocess.run(
            ["git", "--git-dir", str(self.git_dir(repo)), "archive", "--format=tar", commit, *prefixes],
            check=True,
            capture_output=True,
        )
        with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tf:
            for m in tf.getmembers():
                if m.isfile():
                    out[m.name] = tf.extractfile(m).read()
        return out


def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_csv(df: pd.DataFrame, path: Path, sep: str = ",") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # lineterminator fixed so output is identical on every OS
    df.to_csv(path, index=False, sep=sep, lineterminator="\n", encoding="utf-8")


def write_jsonl(records: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def fresh(out: Path, name: str) -> Path:
    d = out / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


# --------------------------------------------------------------------------
# 1. SMS Spam Collection -> sms_spam/{train,test}.csv  (label,text)
# --------------------------------------------------------------------------
def split_sms(labels: list[str], test_frac: float = 0.10, seed: int = SEED) -> set[int]:
    """Seeded stratified split that does not depend on any RNG implementation:
    within each label, rows are ranked by sha256(f"sms_spam-{seed}:{i}") (i = 0-based
    line number in SMSSpamCollection) and the first round(test_frac * n_label) go to test."""
    test: set[int] = set()
    for lab in sorted(set(labels)):
        idx = [i for i, label in enumerate(labels) if label == lab]
        idx.sort(key=lambda i: hashlib.sha256(f"sms_spam-{seed}:{i}".encode()).hexdigest())
        test.update(idx[: round(test_frac * len(idx))])
    return test


def build_sms(inp: Inputs, out: Path) -> None:
    raw = inp.read(SMS_REPO, SMS_COMMIT, "smsspamcollection/SMSSpamCollection").decode("utf-8")
    labels, texts = [], []
    for line in raw.split("\n"):
        if not line:
            continue
        lab, text = line.split("\t", 1)  # one tab per line; no quoting in the source
        labels.append(lab)
        texts.append(text)
    test = split_sms(labels)
    df = pd.DataFrame({"label": labels, "text": texts})
    is_test = df.index.isin(sorted(test))
    d = fresh(out, "sms_spam")
    write_csv(df[~is_test], d / "train.csv")  # original file order kept
    write_csv(df[is_test], d / "test.csv")


# --------------------------------------------------------------------------
# 2. IMDb (aclImdb v1) -> imdb/{train,test}.parquet  (text,label 0=neg 1=pos)
# --------------------------------------------------------------------------
def build_imdb(inp: Inputs, out: Path) -> None:
    prefixes = [f"aclImdb/{s}/{c}" for s in ("train", "test") for c in ("neg", "pos")]
    files = inp.read_tree(IMDB_REPO, IMDB_COMMIT, prefixes)
    h = hashlib.md5()
    for p in sorted(files):
        h.update(p.encode() + b"\0" + files[p] + b"\0")
    if IMDB_TREE_MD5 is not None and h.hexdigest() != IMDB_TREE_MD5:
        raise SystemExit(f"IMDb tree md5 mismatch: {h.hexdigest()}")
    d = fresh(out, "imdb")
    for split in ("train", "test"):
        rows = []
        for label, cls in ((0, "neg"), (1, "pos")):
            pre = f"aclImdb/{split}/{cls}/"
            names = [p for p in files if p.startswith(pre)]
            # files are <id>_<rating>.txt; order by numeric id
            names.sort(key=lambda p: int(p[len(pre) :].split("_")[0]))
            for p in names:
                rows.append((files[p].decode("utf-8"), label))
        df = pd.DataFrame(rows, columns=["text", "label"])
        df["label"] = df["label"].astype("int64")
        d.mkdir(parents=True, exist_ok=True)
        df.to_parquet(d / f"{split}.parquet", index=False, engine="pyarrow", compression="snappy")


# --------------------------------------------------------------------------
# 3. GLUE SST-2 -> sst2/{train,dev,test}.tsv  (verbatim GLUE files)
# --------------------------------------------------------------------------
def build_sst2(inp: Inputs, out: Path) -> None:
    d = fresh(out, "sst2")
    for s in ("train", "dev", "test"):
        write_bytes(d / f"{s}.tsv", inp.read(SST2_REPO, SST2_COMMIT, f"SST-2/{s}.tsv"))


# --------------------------------------------------------------------------
# 4. TREC -> trec/{train,test}.csv  (text,label,fine_label)
# --------------------------------------------------------------------------
def build_trec(inp: Inputs, out: Path) -> None:
    d = fresh(out, "trec")
    for s, src in (("train", "data/raw/TREC.train"), ("test", "data/raw/TREC.test")):
        raw = inp.read(TREC_REPO, TREC_COMMIT, src).decode("latin-1")  # source is ISO-8859-1
        rows = []
        for line in raw.split("\n"):
            if not line:
                continue
            tag, text = line.split(" ", 1)
            coarse, fine = tag.split(":", 1)
            rows.append((text.strip(), coarse, fine))
        write_csv(pd.DataFrame(rows, columns=["text", "label", "fine_label"]), d / f"{s}.csv")


# --------------------------------------------------------------------------
# 5. AG News -> ag_news/ag_news_csv/* (verbatim) + ag_news/with_header/{train,test}.csv
# --------------------------------------------------------------------------
def build_ag_news(inp: Inputs, out: Path) -> None:
    d = fresh(out, "ag_news")
    for f in ("test.csv", "classes.txt", "readme.txt"):
        write_bytes(d / "ag_news_csv" / f, inp.read(AG_REPO, AG_COMMIT, f"data/ag_news_csv/{f}"))
    test = pd.read_csv(
        io.BytesIO(inp.read(AG_REPO, AG_COMMIT, "data/ag_news_csv/test.csv")),
        header=None,
        names=["label", "title", "description"],
        dtype={"label": "int64", "title": str, "description": str},
        keep_default_na=False,
    )
    test_h = pd.DataFrame({"label": test["label"], "text": test["title"] + " " + test["description"]})
    # 5,000-row sample of the ORIGINAL train split, as published by
    # lst11111/bert-text-classification (data/ag_news/train.csv: no header, columns text,label;
    # HF text = title+" "+description, HF labels 0-3). Its dev.csv is NOT used: all 1,000 of its
    # rows are copies of rows in train.csv. Labels are mapped to the original 1-4 ids
    # (World=1 Sports=2 Business=3 Sci/Tech=4, as in classes.txt).
    tr = pd.read_csv(
        io.BytesIO(inp.read(AGS_REPO, AGS_COMMIT, "data/ag_news/train.csv")),
        header=None,
        names=["text", "label"],
        dtype={"text": str, "label": "int64"},
        keep_default_na=False,
    )
    tr = pd.DataFrame({"label": tr["label"] + 1, "text": tr["text"]})
    assert not tr["text"].duplicated().any()
    assert not set(tr["text"]) & set(test_h["text"]), "train sample overlaps test"
    write_csv(tr, d / "with_header" / "train.csv")
    write_csv(test_h, d / "with_header" / "test.csv")


# --------------------------------------------------------------------------
# 6. MRPC -> mrpc/raw/* (verbatim MSR files) + mrpc/{train,test}.jsonl
# --------------------------------------------------------------------------
def build_mrpc(inp: Inputs, out: Path) -> None:
    d = fresh(out, "mrpc")
    for s in ("train", "test"):
        b = inp.read(MRPC_REPO, MRPC_COMMIT, f"MRPC/msr_paraphrase_{s}.txt")
        write_bytes(d / "raw" / f"msr_paraphrase_{s}.txt", b)
        lines = b.decode("utf-8-sig").split("\n")
        assert lines[0].split("\t") == ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]
        recs = []
        for i, line in enumerate(row for row in lines[1:] if row):
            q, id1, id2, s1, s2 = line.split("\t")
            recs.append({"idx": i, "sentence1": s1, "sentence2": s2, "label": int(q), "id1": int(id1), "id2": int(id2)})
        write_jsonl(recs, d / f"{s}.jsonl")


# --------------------------------------------------------------------------
# 7. CLINC150 -> clinc150/{train,validation,test}.jsonl  (the 150 in-scope intents)
# --------------------------------------------------------------------------
def build_clinc150(inp: Inputs, out: Path) -> None:
    d = fresh(out, "clinc150")
    # data_full.json holds {split: [[text, intent], ...]}; the out-of-scope rows (oos_*) are a
    # detection task of their own and are left out, as in the paper's in-scope accuracy.
    full = json.loads(inp.read(CLINC_REPO, CLINC_COMMIT, "data/data_full.json"))
    for split, key in (("train", "train"), ("validation", "val"), ("test", "test")):
        write_jsonl([{"text": text, "label": intent} for text, intent in full[key]], d / f"{split}.jsonl")


# --------------------------------------------------------------------------
# 8. BANKING77 -> banking77/{train,test}.csv (verbatim: text,category); validation is carved
#    banking77_16shot/{train,test}.csv: 16 training rows an intent, the full test split
# --------------------------------------------------------------------------
FEW_SHOT = 16


def build_banking77(inp: Inputs, out: Path) -> None:
    d = fresh(out, "banking77")
    for s in ("train", "test"):
        write_bytes(d / f"{s}.csv", inp.read(BANKING_REPO, BANKING_COMMIT, f"banking_data/{s}.csv"))


def build_banking77_16shot(inp: Inputs, out: Path) -> None:
    d = fresh(out, "banking77_16shot")
    train = pd.read_csv(io.BytesIO(inp.read(BANKING_REPO, BANKING_COMMIT, "banking_data/train.csv")))
    # SetFit's few-shot protocol: the same number of rows from every class, drawn with a fixed seed.
    shots = train.groupby("category", group_keys=False).sample(n=FEW_SHOT, random_state=SEED)
    write_csv(shots.sort_index(), d / "train.csv")
    write_bytes(d / "test.csv", inp.read(BANKING_REPO, BANKING_COMMIT, "banking_data/test.csv"))


BUILDERS = {
    "sms_spam": build_sms,
    "imdb": build_imdb,
    "sst2": build_sst2,
    "trec": build_trec,
    "ag_news": build_ag_news,
    "mrpc": build_mrpc,
    "clinc150": build_clinc150,
    "banking77": build_banking77,
    "banking77_16shot": build_banking77_16shot,
}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mirror-root", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--raw-dir", type=Path, default=None)
    ap.add_argument("--git-dir", action="append", default=[], metavar="owner/name=PATH")
    ap.add_argument("--out", type=Path, required=True, help="a folder outside the repository")
    ap.add_argument("--only", default=",".join(BUILDERS))
    a = ap.parse_args(argv)
    overrides = {}
    for kv in a.git_dir:
        k, v = kv.split("=", 1)
        overrides[k] = Path(v)
    inp = Inputs(a.mirror_root, a.raw_dir, overrides)
    for name in a.only.split(","):
        print(f"building {name} ...", file=sys.stderr)
        BUILDERS[name](inp, a.out)
    print("done", file=sys.stderr)


if __name__ == "__main__":
    main()
