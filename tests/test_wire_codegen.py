"""The generated codecs are committed: they must be exactly what spec.py generates today."""
from __future__ import annotations

import dataclasses
import re
import subprocess
import sys

import numpy as np

from tinyfl.paths import REPO_ROOT
from tinyfl.wire import codegen, spec


def test_generated_files_are_current():
    proc = subprocess.run([sys.executable, "-m", "tinyfl.wire.codegen", "--check"],
                          cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_check_reports_a_stale_file(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "tinyfl_wire_gen.h"
    stale.write_text(codegen.render_c_header().replace("#define TINYFL_WIRE_MAX_CHUNK 240",
                                                       "#define TINYFL_WIRE_MAX_CHUNK 241"))
    monkeypatch.setattr(codegen, "C_HEADER_PATH", stale)
    assert codegen.main(["--check"]) == 1
    assert "stale" in capsys.readouterr().err
    assert "241" in stale.read_text()  # --check writes nothing


def test_generation_is_reproducible():
    first = codegen.generate()
    assert codegen.generate() == first
    for path, text in first.items():
        if path.suffix != ".md":
            assert codegen.BANNER in text.splitlines()[0]
        assert not re.search(r"20\d\d-\d\d-\d\d|\d\d:\d\d:\d\d", text)  # no timestamps


def test_header_constants_follow_the_spec():
    header = codegen.render_c_header()
    defines = dict(re.findall(r"^#define (TINYFL_\w+) (\d+)$", header, re.M))
    assert defines["TINYFL_WIRE_SPEC_VERSION"] == str(spec.SPEC_VERSION)
    for name in ("PROTOCOL_VERSION", "HEADER_SIZE", "CRC_SIZE", "MIN_CHUNK", "MAX_CHUNK",
                 "MAX_PARAMS", "MAX_MESSAGE", "MAX_CHUNKS"):
        assert defines[f"TINYFL_WIRE_{name}"] == str(getattr(spec, name))
    for m in spec.MESSAGES:
        assert defines[f"TINYFL_MSG_{m.name.upper()}"] == str(m.type_id)
        assert f"}} tinyfl_msg_{m.name};" in header
    assert defines["TINYFL_STATUS_COUNT"] == str(len(spec.STATUS))
    for name, code, _ in spec.STATUS:
        c_name = f"TINYFL_{name}" if name in ("OK", "AGAIN") else f"TINYFL_E_{name}"
        assert f"    {c_name} = {code}" in header
    assert "float *params;" in header and "int32_t *values;" in header
    assert "uint8_t seed[32];" in header


def test_python_module_follows_the_spec():
    from tinyfl.wire import _wire_gen

    assert _wire_gen.SPEC_VERSION == spec.SPEC_VERSION
    assert [(s.name, s.value) for s in _wire_gen.Status] == [(n, c) for n, c, _ in spec.STATUS]
    assert {cls.NAME: tid for cls, tid in _wire_gen.TYPE_IDS.items()} == \
        {m.name: m.type_id for m in spec.MESSAGES}
    for m in spec.MESSAGES:
        cls = _wire_gen.MESSAGE_BY_TYPE_ID[m.type_id]
        assert [f.name for f in dataclasses.fields(cls)] == [f.name for f in m.fields]


def test_float_bounds_are_float32_values():
    """Both decoders compare against the float32 nearest the spec's bound."""
    assert codegen.c_float_literal(0.1) == "0.1f"
    assert codegen.c_float_literal(-1e6) == "-1e+06f"
    assert codegen.c_float_literal(1.0) == "1.0f"
    assert codegen.py_bound(spec.MESSAGE_BY_NAME["hello"].fields[5], 0.1) == repr(
        float(np.float32(0.1)))


def test_protocol_doc_tables_are_generated():
    doc = codegen.DOC_PATH.read_text()
    assert codegen.render_markdown() in doc
    for m in spec.MESSAGES:
        assert f"### `{m.name}` (type {m.type_id}" in doc
    try:
        codegen.render_doc("no markers here")
    except ValueError:
        pass
    else:
        raise AssertionError("a doc without markers must be refused")
