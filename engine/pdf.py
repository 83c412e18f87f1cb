"""Word to PDF with LibreOffice, when it is installed (Debian: libreoffice-writer-nogui, fonts-noto-cjk)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from .errors import Invalid


def soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert(files: list[Path], timeout: float = 120) -> list[Path]:
    """Each .docx converted to a .pdf beside it, in one LibreOffice run (a start costs about a second)."""
    program = soffice()
    if program is None:
        raise Invalid("轉換 PDF 需要 LibreOffice（Debian：apt install libreoffice-writer-nogui fonts-noto-cjk）")
    with tempfile.TemporaryDirectory() as profile:  # its own profile: runs in parallel do not collide
        groups: dict[Path, list[Path]] = {}
        for f in files:
            groups.setdefault(f.resolve().parent, []).append(f.resolve())
        for folder, group in groups.items():
            proc = subprocess.run([program, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to",
                                   "pdf", "--outdir", str(folder), *map(str, group)],
                                  capture_output=True, text=True, timeout=timeout)
            if proc.returncode != 0:
                raise Invalid(f"LibreOffice 轉換失敗：{proc.stderr.strip()[:200]}")
    out = [f.with_suffix(".pdf") for f in files]
    missing = [str(p) for p in out if not p.exists()]
    if missing:
        raise Invalid(f"LibreOffice 沒有產生：{'、'.join(missing)}")
    return out
