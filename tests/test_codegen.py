"""Golden tests for the code generator (codegen/): spec errors, rendered files, the CLI.

Fixtures live in tests/fixtures/codegen/:

- `bad/<case>/`: one folder per error class, holding the spec file(s) and `expected.txt`, the
  exact `file:line: message` lines `load_specs(folder, root=bad/)` must raise (sorted, as
  SpecErrors sorts them). A case with an `xfail.txt` exposes a known codegen bug: the file
  holds the reason, the test is a strict xfail, and only the `file:line` part of each
  expected line is compared (the message a fix will print is not known yet). `{helpers}`
  in expected.txt stands for the live list of exporter/emit/helpers.py functions, which
  grows as specs are added.
- `good/`: a small valid spec folder; `golden/`: what `render_all` makes of it (rendered with
  the project root as display root, exactly as `python -m aten2onnx.codegen` does).

After an intended change to codegen's output or messages, regenerate and review the diff:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q tests/test_codegen.py
    git diff tests/fixtures/codegen/

UPDATE_GOLDEN=1 rewrites golden/ (removing files render_all no longer makes) and the
expected.txt of every bad case without an xfail.txt.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aten2onnx.codegen import model
from aten2onnx.codegen.__main__ import main as codegen_main
from aten2onnx.codegen.errors import Location, SpecErrors
from aten2onnx.codegen.load import load_specs
from aten2onnx.codegen.model import MAX_OPSET, MIN_OPSET, OpSpec, Variant, normalize_overload
from aten2onnx.codegen.render import OPSETS, duplicate_functions, registry_rows, render_all, write_if_changed
from aten2onnx.codegen.shared.torch_schema import TorchArg, TorchSchema, schema_of
from aten2onnx.codegen.validate import EMIT_HELPERS_FILE, python_functions, signature_difference

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "codegen"
BAD = FIXTURES / "bad"
GOOD = FIXTURES / "good"
GOLDEN = FIXTURES / "golden"
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"

BAD_CASES = sorted(p.name for p in BAD.iterdir() if p.is_dir())


def _case_param(name: str):
    reason_file = BAD / name / "xfail.txt"
    if reason_file.exists():
        reason = reason_file.read_text(encoding="utf-8").strip()
        return pytest.param(name, id=name, marks=pytest.mark.xfail(strict=True, reason=reason))
    return pytest.param(name, id=name)


def _helpers() -> str:
    return ", ".join(sorted(python_functions(EMIT_HELPERS_FILE)))


def _expected_lines(case: str) -> list[str]:
    text = (BAD / case / "expected.txt").read_text(encoding="utf-8")
    return text.replace("{helpers}", _helpers()).splitlines()


def _errors_of(folder: Path, root: Path | None) -> list[str]:
    with pytest.raises(SpecErrors) as info:
        load_specs(folder, root=root)
    return [str(e) for e in info.value.errors]


def _location(line: str) -> str:
    """`a/b.yaml:12: message` -> `a/b.yaml:12`."""
    file, number, _ = line.split(":", 2)
    return f"{file}:{number}"


def _run_codegen(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aten2onnx.codegen", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


def _load_text(tmp_path: Path, text: str, name: str = "spec") -> list[OpSpec]:
    folder = tmp_path / name
    folder.mkdir()
    (folder / f"{name}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return load_specs(folder, root=tmp_path)


# -- 1. bad specs: exact error lines ------------------------------------------------------------

def test_every_bad_case_has_expected_lines():
    assert len(BAD_CASES) >= 25
    for name in BAD_CASES:
        assert (BAD / name / "expected.txt").is_file(), name
        assert list((BAD / name).glob("*.yaml")), name


@pytest.mark.parametrize("case", [_case_param(name) for name in BAD_CASES])
def test_bad_spec_errors(case: str):
    folder = BAD / case
    expected_file = folder / "expected.txt"
    known_bug = (folder / "xfail.txt").exists()
    actual = _errors_of(folder, root=BAD)
    if UPDATE_GOLDEN and not known_bug:
        text = "".join(f"{line}\n" for line in actual).replace(f"helpers are {_helpers()} (", "helpers are {helpers} (")
        expected_file.write_text(text, encoding="utf-8")
    expected = _expected_lines(case)
    if known_bug:
        assert [_location(x) for x in actual] == [_location(x) for x in expected]
    else:
        assert actual == expected


def test_several_errors_are_reported_together_and_sorted():
    lines = _errors_of(BAD / "several_errors", root=BAD)
    # YAML (duplicate key), parsing (unknown key, missing aten), validation (torch, onnx.defs)
    assert len(lines) == 9
    # sorted by file and line; errors on one line keep the order they were found in
    keys = [(_location(x).split(":")[0], int(_location(x).split(":")[1])) for x in lines]
    assert keys == sorted(keys)
    assert [k[1] for k in keys] == [2, 8, 10, 14, 14, 19, 22, 28, 28]  # numeric, not text, order


def test_errors_across_files_of_one_folder():
    lines = _errors_of(BAD / "duplicate_aten", root=BAD)
    assert lines == [
        "duplicate_aten/b.yaml:4: aten::relu.default is already specified at duplicate_aten/a.yaml:1; "
        "merge the two entries (overloads need one entry each)"
    ]


def test_default_root_is_the_folder_parent():
    assert _errors_of(BAD / "duplicate_key", root=None) == _errors_of(BAD / "duplicate_key", root=BAD)


def test_cli_reports_every_error_and_writes_nothing(tmp_path: Path):
    out = tmp_path / "out"
    result = _run_codegen("--specs", "tests/fixtures/codegen/bad/several_errors", "--out", str(out))
    assert result.returncode == 1
    expected = ["tests/fixtures/codegen/bad/" + line for line in _expected_lines("several_errors")]
    stderr = result.stderr.splitlines()
    assert stderr[:-1] == expected
    assert stderr[-1] == (
        f"codegen: {len(expected)} error(s) in tests/fixtures/codegen/bad/several_errors; nothing was written"
    )
    assert result.stdout == ""
    assert not out.exists()


# -- 2. good specs: golden files -----------------------------------------------------------------

@pytest.fixture(scope="module")
def good_specs() -> list[OpSpec]:
    return load_specs(GOOD, root=ROOT)


@pytest.fixture(scope="module")
def good_files(good_specs: list[OpSpec]) -> dict[str, str]:
    files = render_all(good_specs)
    if UPDATE_GOLDEN:
        GOLDEN.mkdir(exist_ok=True)
        for stale in GOLDEN.iterdir():
            if stale.name not in files:
                stale.unlink()
        write_if_changed(GOLDEN, files)
    return files


def test_golden_file_set(good_files: dict[str, str]):
    assert sorted(good_files) == sorted(p.name for p in GOLDEN.iterdir())
    assert set(good_files) == {f"opset{n}.py" for n in range(MIN_OPSET, MAX_OPSET + 1)} | {
        "registry.py", "__init__.py", "SUPPORT.md", "spec_helpers.py"}


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.iterdir()))
def test_golden_file(good_files: dict[str, str], name: str):
    golden = (GOLDEN / name).read_text(encoding="utf-8")
    assert good_files.get(name) == golden, f"{name} differs from golden; see the module docstring"


def test_rendered_python_compiles(good_files: dict[str, str]):
    for name, text in good_files.items():
        if name.endswith(".py"):
            compile(text, name, "exec")


def test_rendered_functions_sit_in_their_first_opset(good_files: dict[str, str]):
    def functions(name: str) -> list[str]:
        tree = ast.parse(good_files[name])
        return [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]

    assert functions("opset9.py") == [
        "relu", "leaky_relu", "elu", "gelu", "add_Tensor", "div_Tensor", "unsqueeze", "as_strided", "squeeze_dim"]
    assert functions("opset13.py") == ["unsqueeze", "sum_dim_IntList"]
    assert functions("opset20.py") == ["gelu"]
    for n in set(OPSETS) - {9, 13, 20}:
        assert functions(f"opset{n}.py") == []
        assert f"# No mapping changes at opset {n}." in good_files[f"opset{n}.py"]


def test_impl_variant_renders_import_and_call():
    # Independent of what exporter/lib holds today (the good fixture's `as_strided` covers a real one).
    where = Location("x.yaml", 1)
    spec = OpSpec("aten::relu.default", (Variant(9, None, "aten2onnx.exporter.emit.lib.activation.relu", (), where),),
                  (), None, model.TestHints(), None, where)
    text = render_all([spec])["opset9.py"]
    assert "\nfrom aten2onnx.exporter.emit.lib import activation\n" in text
    assert "    return activation.relu(g, self)\n" in text
    compile(text, "opset9.py", "exec")


# -- 3. determinism and writing ------------------------------------------------------------------

def test_render_is_deterministic(good_files: dict[str, str]):
    again = render_all(load_specs(GOOD, root=ROOT))
    assert again == good_files
    assert list(again) == list(good_files)


def test_write_if_changed(tmp_path: Path, good_files: dict[str, str]):
    out = tmp_path / "generated"
    first = write_if_changed(out, good_files)
    assert sorted(p.name for p in first) == sorted(good_files)
    assert write_if_changed(out, good_files) == []

    (out / "opset13.py").write_text("edited\n", encoding="utf-8")
    (out / "opset30.py").write_text("stale\n", encoding="utf-8")
    (out / "notes.txt").write_text("not generated\n", encoding="utf-8")
    changed = write_if_changed(out, good_files)
    assert sorted(p.name for p in changed) == ["opset13.py", "opset30.py"]
    assert not (out / "opset30.py").exists()
    assert (out / "notes.txt").exists()  # only opset*.py files are considered stale
    assert (out / "opset13.py").read_text(encoding="utf-8") == good_files["opset13.py"]
    assert write_if_changed(out, good_files) == []


def test_cli_writes_the_golden_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "out"
    assert codegen_main(["--specs", str(GOOD), "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"codegen: 10 specs, {len(OPSETS) + 4} file(s) updated in out/\n"
    for path in GOLDEN.iterdir():
        assert (out / path.name).read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), path.name
    assert codegen_main(["--specs", str(GOOD), "--out", str(out)]) == 0
    assert capsys.readouterr().out == "codegen: 10 specs, 0 file(s) updated in out/\n"


# -- 4. --check ----------------------------------------------------------------------------------

def test_cli_check(tmp_path: Path):
    out = tmp_path / "out"
    shutil.copytree(GOLDEN, out)
    specs = "tests/fixtures/codegen/good"
    fresh = _run_codegen("--check", "--specs", specs, "--out", str(out))
    assert (fresh.returncode, fresh.stdout, fresh.stderr) == (0, "", "")

    edited = out / "opset13.py"
    edited.write_text(edited.read_text(encoding="utf-8") + "# hand edit\n", encoding="utf-8")
    stale = _run_codegen("--check", "--specs", specs, "--out", str(out))
    assert stale.returncode == 1
    assert stale.stderr == "codegen: out/ is out of date: opset13.py; run `make codegen`\n"  # names --out
    assert edited.read_text(encoding="utf-8").endswith("# hand edit\n")  # --check writes nothing


def test_cli_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "out"
    shutil.copytree(GOLDEN, out)
    (out / "registry.py").unlink()
    assert codegen_main(["--check", "--specs", str(GOOD), "--out", str(out)]) == 1
    assert "registry.py" in capsys.readouterr().err
    assert not (out / "registry.py").exists()


def test_cli_check_sees_stale_opset_file(tmp_path: Path):
    out = tmp_path / "out"
    shutil.copytree(GOLDEN, out)
    if codegen_main(["--check", "--specs", str(GOOD), "--out", str(out)]) != 0:
        pytest.fail("golden/ is out of date, so this test cannot tell")  # not an XPASS
    (out / "opset30.py").write_text("# from an older MAX_OPSET\n", encoding="utf-8")
    assert codegen_main(["--check", "--specs", str(GOOD), "--out", str(out)]) == 1


def test_cli_missing_specs_folder_is_an_error(tmp_path: Path):
    out = tmp_path / "out"
    assert codegen_main(["--specs", str(tmp_path / "opspec"), "--out", str(out)]) != 0
    assert not out.exists()


# -- 5. registry semantics -------------------------------------------------------------------------

def _spec(good_specs: list[OpSpec], aten: str) -> OpSpec:
    return next(s for s in good_specs if s.aten == aten)


def test_variant_ranges(good_specs: list[OpSpec]):
    ranges = {s.aten: [s.variant_range(i) for i in range(len(s.variants))] for s in good_specs}
    assert ranges == {
        "aten::relu.default": [(9, 26)],
        "aten::leaky_relu.default": [(9, 26)],
        "aten::elu.default": [(9, 26)],
        "aten::gelu.default": [(9, 19), (20, 26)],
        "aten::add.Tensor": [(9, 26)],
        "aten::div.Tensor": [(9, 26)],
        "aten::unsqueeze.default": [(9, 12), (13, 26)],
        "aten::sum.dim_IntList": [(13, 26)],
        "aten::as_strided.default": [(9, 26)],
        "aten::squeeze.dim": [(9, 26)],
    }
    # `since` omitted: resolved from onnx.defs (Relu exists from opset 1, ReduceSum's
    # explicit 13 is kept); a `since` below 9 is clipped to 9 only in the range.
    assert [v.since for v in _spec(good_specs, "aten::relu.default").variants] == [1]
    assert [v.since for v in _spec(good_specs, "aten::sum.dim_IntList").variants] == [13]


def test_variant_at(good_specs: list[OpSpec]):
    gelu = _spec(good_specs, "aten::gelu.default")
    assert [gelu.variants.index(gelu.variant_at(o)) for o in range(9, 27)] == [0] * 11 + [1] * 7
    assert gelu.variant_at(8) is None and gelu.variant_at(27) is None
    unsqueeze = _spec(good_specs, "aten::unsqueeze.default")
    assert unsqueeze.variant_at(12) is unsqueeze.variants[0]
    assert unsqueeze.variant_at(13) is unsqueeze.variants[1]
    total = _spec(good_specs, "aten::sum.dim_IntList")
    assert total.variant_at(12) is None
    assert total.variant_at(13) is total.variants[0]


def _registry(specs: list[OpSpec]) -> list[tuple[str, list[tuple[int, str]], str]]:
    """registry_rows as plain tuples, to compare with literals."""
    return [(row.aten, list(row.entries), row.source) for row in registry_rows(specs)]


def test_registry_rows(good_specs: list[OpSpec]):
    assert _registry(good_specs) == [
        ("aten::add.Tensor", [(9, "opset9.add_Tensor")], "tests/fixtures/codegen/good/shape.yaml:3"),
        ("aten::as_strided.default", [(9, "opset9.as_strided")], "tests/fixtures/codegen/good/shape.yaml:25"),
        ("aten::div.Tensor", [(9, "opset9.div_Tensor")], "tests/fixtures/codegen/good/shape.yaml:7"),
        ("aten::elu.default", [(9, "opset9.elu")], "tests/fixtures/codegen/good/activation.yaml:10"),
        ("aten::gelu.default", [(9, "opset9.gelu"), (20, "opset20.gelu")],
         "tests/fixtures/codegen/good/activation.yaml:19"),
        ("aten::leaky_relu.default", [(9, "opset9.leaky_relu")], "tests/fixtures/codegen/good/activation.yaml:6"),
        ("aten::relu.default", [(9, "opset9.relu")], "tests/fixtures/codegen/good/activation.yaml:3"),
        ("aten::squeeze.dim", [(9, "opset9.squeeze_dim")], "tests/fixtures/codegen/good/shape.yaml:44"),
        ("aten::sum.dim_IntList", [(13, "opset13.sum_dim_IntList")], "tests/fixtures/codegen/good/shape.yaml:18"),
        ("aten::unsqueeze.default", [(9, "opset9.unsqueeze"), (13, "opset13.unsqueeze")],
         "tests/fixtures/codegen/good/shape.yaml:11"),
    ]


class _FunctionTags:
    """Stands in for aten2onnx.generated.opsetN: any attribute is the tag 'opsetN.name'."""

    def __init__(self, opset: int):
        self.opset = opset

    def __getattr__(self, name: str) -> str:
        return f"opset{self.opset}.{name}"


def _rendered_registry(files: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Run the rendered registry.py against stand-in opset modules whose functions are named tags."""
    fake = types.ModuleType("aten2onnx.generated")
    for n in OPSETS:
        setattr(fake, f"opset{n}", _FunctionTags(n))
    monkeypatch.setitem(sys.modules, "aten2onnx.generated", fake)
    registry: dict[str, object] = {}
    exec(compile(files["registry.py"], "registry.py", "exec"), registry)
    return registry


def test_rendered_registry_lookup(good_specs, good_files, monkeypatch: pytest.MonkeyPatch):
    registry = _rendered_registry(good_files, monkeypatch)
    lookup = registry["lookup"]
    for spec in good_specs:
        for opset in OPSETS:
            variant = spec.variant_at(opset)
            expected = None
            if variant is not None:
                first = spec.variant_range(spec.variants.index(variant))[0]
                expected = f"opset{first}.{spec.function_name}"
            assert lookup(spec.aten, opset) == expected, (spec.aten, opset)
        assert lookup(spec.aten, MIN_OPSET - 1) is None
    assert lookup("aten::nothing.default", 13) is None
    assert registry["supported_ops"](12) == sorted(s.aten for s in good_specs if s.aten != "aten::sum.dim_IntList")
    assert registry["SOURCES"]["aten::gelu.default"] == "tests/fixtures/codegen/good/activation.yaml:19"


@given(st.sets(st.integers(1, MAX_OPSET), min_size=1, max_size=5))
def test_variant_at_is_newest_since_at_or_below(sinces: set[int]):
    where = Location("x.yaml", 1)
    ordered = sorted(sinces)
    spec = OpSpec("aten::relu.default", tuple(Variant(s, f"Add(Relu(self), like({s}, self))", None, (), where)
                                              for s in ordered),
                  (), None, model.TestHints(), None, where)
    rows = registry_rows([spec])[0].entries
    for opset in OPSETS:
        at_or_below = [i for i, s in enumerate(ordered) if s <= opset]
        expected = spec.variants[at_or_below[-1]] if at_or_below else None
        assert spec.variant_at(opset) is expected
        # the registry serves the newest row whose first opset is at or below
        served = [fn for first, fn in rows if first <= opset]
        if expected is None:
            assert served == []
        else:
            first = spec.variant_range(at_or_below[-1])[0]
            assert served[-1] == f"opset{first}.relu"
    # rows are oldest first, one per non-empty range; variants below 9 that a later one
    # shadows at 9 get no row
    assert [first for first, _ in rows] == sorted({max(s, MIN_OPSET) for s in ordered})


# -- regressions: codegen bugs found by these tests, now fixed ------------------------------------

def _rejected_or_compiles(tmp_path: Path, text: str) -> None:
    """A spec must either be reported as a SpecError or render to valid Python."""
    try:
        specs = _load_text(tmp_path, text)
    except SpecErrors:
        return
    for name, rendered in render_all(specs).items():
        if name.endswith(".py"):
            compile(rendered, name, "exec")


def test_empty_promote(tmp_path: Path):
    _rejected_or_compiles(tmp_path, """
        - aten: relu
          onnx: Relu
          promote: []
        """)


def test_schema_argument_named_g(tmp_path: Path):
    _rejected_or_compiles(tmp_path, """
        - aten: _weight_norm
          emit: Mul(v, g)
        """)


def test_keyword_argument_usable_in_emit(tmp_path: Path):
    accepted = []
    for spelling in ("from", "from_"):
        try:
            _load_text(tmp_path, f"""
                - aten: uniform
                  emit: RandomUniformLike(self, low={spelling}, high=to)
                """, name=f"uniform_{spelling.replace('_', 'u')}")
            accepted.append(spelling)
        except SpecErrors:
            pass
    assert accepted


def test_multiline_emit_keeps_support_row_on_one_line(tmp_path: Path):
    specs = _load_text(tmp_path, """
        - aten: add.Tensor
          emit: |
            Add(self,
                other)
        """)
    support = render_all(specs)["SUPPORT.md"]
    rows = [line for line in support.splitlines() if line.startswith("| `aten::")]
    assert len(rows) == 1 and rows[0].endswith("spec/spec.yaml:2 |")


def test_test_opsets_and_xfail_together(tmp_path: Path):
    (spec,) = _load_text(tmp_path, """
        - aten: relu
          onnx: Relu
          test:
            opsets: [13, 14]
            xfail: [{opsets: [9, 10], reason: "an example"}]
    """)
    assert spec.test.opsets == (13, 14)
    assert spec.test.xfail == ((9, 10, "an example"),)


def test_impl_of_an_op_with_a_keyword_argument(tmp_path: Path):
    lib = Path(__file__).resolve().parent.parent / "exporter" / "emit" / "lib"
    module = lib / "_codegen_test_impl.py"
    module.write_text("def uniform(g, self, from_, to, generator):\n    return self\n", encoding="utf-8")
    try:
        (spec,) = _load_text(tmp_path, """
            - aten: uniform
              impl: aten2onnx.exporter.emit.lib._codegen_test_impl.uniform
              emits: []
        """)
        assert spec.variants[0].impl == "aten2onnx.exporter.emit.lib._codegen_test_impl.uniform"
        rendered = render_all([spec])["opset9.py"]
        assert "_codegen_test_impl.uniform(g, self, from_, to, generator)" in rendered
    finally:
        module.unlink()


# -- aliases: one entry, several overloads -------------------------------------------------------

_AND = """
    - aten: bitwise_and.Tensor
      aliases: [__and__.Tensor]
      variants:
        - {since: 9, emit: "And(self, other)"}
        - {since: 18, emit: "And(self, other) if is_bool(self) else BitwiseAnd(self, other)"}
    """


def _alias_errors(tmp_path: Path, text: str, name: str = "spec") -> list[str]:
    with pytest.raises(SpecErrors) as info:
        _load_text(tmp_path, text, name)
    return [str(e) for e in info.value.errors]


def test_alias_is_registered_to_the_entry_function(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    entry, alias = _load_text(tmp_path, _AND)
    assert (entry.aten, entry.alias_of, [a.aten for a in entry.aliases]) == (
        "aten::bitwise_and.Tensor", None, ["aten::__and__.Tensor"])
    assert (alias.aten, alias.alias_of, alias.aliases) == ("aten::__and__.Tensor", "aten::bitwise_and.Tensor", ())
    assert str(alias.location) == "spec/spec.yaml:3"  # the alias's own line
    assert alias.variants == entry.variants and alias.test == entry.test
    assert alias.function_name == entry.function_name == "bitwise_and_Tensor"

    files = render_all([entry, alias])
    for opset in (9, 18):  # one function per variant, none for the alias
        tree = ast.parse(files[f"opset{opset}.py"])
        assert [n.name for n in tree.body if isinstance(n, ast.FunctionDef)] == ["bitwise_and_Tensor"]
        assert "also serves aten::__and__.Tensor" in files[f"opset{opset}.py"]
    assert _registry([entry, alias]) == [
        ("aten::__and__.Tensor", [(9, "opset9.bitwise_and_Tensor"), (18, "opset18.bitwise_and_Tensor")],
         "spec/spec.yaml:3"),
        ("aten::bitwise_and.Tensor", [(9, "opset9.bitwise_and_Tensor"), (18, "opset18.bitwise_and_Tensor")],
         "spec/spec.yaml:2"),
    ]
    registry = _rendered_registry(files, monkeypatch)
    for opset in OPSETS:
        assert registry["lookup"]("aten::__and__.Tensor", opset) == registry["lookup"]("aten::bitwise_and.Tensor", opset)
    assert registry["lookup"]("aten::__and__.Tensor", 17) == "opset9.bitwise_and_Tensor"

    support = files["SUPPORT.md"]
    assert "2 ATen overloads have a spec (1 of them aliases:" in support
    (row,) = [line for line in support.splitlines() if line.startswith("| `aten::__and__.Tensor`")]
    assert "alias of `aten::bitwise_and.Tensor` (same function)" in row and row.endswith("| spec/spec.yaml:3 |")


def test_alias_block_list_and_spelling(tmp_path: Path):
    specs = _load_text(tmp_path, """
        - aten: bitwise_or.Tensor
          aliases:
            - __or__.Tensor
          onnx: Or
        - aten: view
          aliases: [aten::_unsafe_view.default]
          emit: Reshape(self, ints(size))
        """)
    assert [(s.aten, s.alias_of, str(s.location)) for s in specs] == [
        ("aten::bitwise_or.Tensor", None, "spec/spec.yaml:2"),
        ("aten::__or__.Tensor", "aten::bitwise_or.Tensor", "spec/spec.yaml:4"),
        ("aten::view.default", None, "spec/spec.yaml:6"),
        ("aten::_unsafe_view.default", "aten::view.default", "spec/spec.yaml:7"),
    ]


def test_alias_with_other_arguments_is_an_error(tmp_path: Path):
    assert _alias_errors(tmp_path, _AND.replace("[__and__.Tensor]", "[__and__.Scalar]")) == [
        "spec/spec.yaml:3: aten::bitwise_and.Tensor: alias 'aten::__and__.Scalar' cannot share this entry's "
        "function: its argument 'other' is Scalar, not Tensor. Its schema is (Tensor self, Scalar other) -> "
        "(Tensor), the entry's (Tensor self, Tensor other) -> (Tensor); list it under an entry whose arguments "
        "match, or give it an entry of its own"
    ]


def test_unknown_alias_is_an_error(tmp_path: Path):
    assert _alias_errors(tmp_path, _AND.replace("[__and__.Tensor]", "[__nand__.Tensor]")) == [
        "spec/spec.yaml:3: aten::bitwise_and.Tensor: alias 'aten::__nand__.Tensor' is not an ATen overload; "
        "check the name in torch.ops.aten"
    ]
    (line,) = _alias_errors(tmp_path, _AND.replace("[__and__.Tensor]", "[__and__.Tensr]"), name="typo")
    assert line.startswith("typo/typo.yaml:3: aten::bitwise_and.Tensor: alias 'aten::__and__.Tensr' is not an "
                           "ATen overload; torch has: Scalar, Tensor")


def test_alias_that_has_its_own_entry_is_an_error(tmp_path: Path):
    text = _AND + """
    - aten: __and__.Tensor
      onnx: And
    """
    assert _alias_errors(tmp_path, text) == [
        "spec/spec.yaml:3: aten::bitwise_and.Tensor: alias 'aten::__and__.Tensor' also has its own entry at "
        "spec/spec.yaml:8; an overload is registered once: delete that entry if it maps the same way, else "
        "remove the alias"
    ]


def test_alias_listed_twice_or_of_itself_is_an_error(tmp_path: Path):
    text = """
    - aten: bitwise_or.Tensor
      aliases:
        - __or__.Tensor
        - bitwise_or.Tensor
      onnx: Or
    - aten: logical_or
      aliases: [__or__.Tensor]
      onnx: Or
    """
    assert _alias_errors(tmp_path, text) == [
        "spec/spec.yaml:5: aten::bitwise_or.Tensor: alias 'aten::bitwise_or.Tensor' is this entry's own "
        "overload; remove it from 'aliases'",
        "spec/spec.yaml:8: aten::logical_or.default: alias 'aten::__or__.Tensor' is already listed at "
        "spec/spec.yaml:4 (an alias of aten::bitwise_or.Tensor); list it once",
    ]


def test_aliases_must_be_a_list_of_names(tmp_path: Path):
    text = """
    - aten: relu
      aliases: relu_
      onnx: Relu
    - aten: neg
      aliases:
        - 3
      onnx: Neg
    - aten: abs
      aliases: []
      onnx: Abs
    """
    assert _alias_errors(tmp_path, text) == [
        "spec/spec.yaml:2: 'aliases' must be a non-empty list of overload names (spelled as in 'aten'), "
        "like [__and__.Tensor]; got 'relu_'",
        "spec/spec.yaml:7: each alias must be an overload name such as '__and__.Tensor', got 3",
        "spec/spec.yaml:9: 'aliases' must be a non-empty list of overload names (spelled as in 'aten'), "
        "like [__and__.Tensor]; got []",
    ]


def _schema(overload: str) -> TorchSchema:
    found = schema_of(normalize_overload(overload))
    assert found is not None, overload
    return found


def test_signature_difference_covers_what_the_function_depends_on():
    assert signature_difference(_schema("bitwise_and.Tensor"), _schema("__and__.Tensor")) is None
    assert signature_difference(_schema("conv1d"), _schema("conv2d")) == \
        "its argument 'stride' defaults to [1, 1], the entry's to [1]"
    assert signature_difference(_schema("__and__.Tensor"), _schema("__iand__.Tensor")) == \
        "it writes its argument 'self' in place"
    assert signature_difference(_schema("relu"), _schema("add.Tensor")) == "it has an extra argument 'other'"
    assert signature_difference(_schema("add.Tensor"), _schema("relu")) == "it has no argument 'other'"
    assert signature_difference(_schema("sum.dim_IntList"), _schema("mean.dim")) is None
    assert signature_difference(_schema("max.default"), _schema("max.dim")) == "it has an extra argument 'dim'"
    # keyword-only, returns, and a SymInt that arrives like an int
    base = TorchSchema("aten::x.default", (TorchArg("self", "Tensor", False, False, None),
                                           TorchArg("n", "int", True, True, 1)), ("Tensor",))
    symint = TorchSchema("aten::y.default", (TorchArg("self", "Tensor", False, False, None),
                                             TorchArg("n", "SymInt", True, True, 1)), ("Tensor",))
    positional = TorchSchema("aten::y.default", (base.arguments[0], TorchArg("n", "int", False, True, 1)), ("Tensor",))
    two = TorchSchema("aten::y.default", base.arguments, ("Tensor", "Tensor"))
    assert signature_difference(base, symint) is None
    assert signature_difference(base, positional) == "its argument 'n' is positional"
    assert signature_difference(base, two) == "it returns (Tensor, Tensor), not (Tensor)"


def test_generated_registry_serves_the_bitwise_operator_forms():
    from aten2onnx.generated import registry

    for op in ("and", "or", "xor"):
        for kind in ("Tensor", "Scalar"):
            for opset in (9, 18):
                served = registry.lookup(f"aten::__{op}__.{kind}", opset)
                assert served is not None and served is registry.lookup(f"aten::bitwise_{op}.{kind}", opset)


def test_user_specs_register_aliases(tmp_path: Path):
    from aten2onnx.exporter.api.user_specs import load_opspecs, unload_opspecs
    from aten2onnx.exporter.translate import registry

    path = tmp_path / "mine.yaml"
    path.write_text(textwrap.dedent(_AND), encoding="utf-8")
    try:
        assert load_opspecs(path) == ["aten::__and__.Tensor", "aten::bitwise_and.Tensor"]
        for opset in (9, 18):
            alias = registry.user_specs.find("aten::__and__.Tensor", opset)
            entry = registry.user_specs.find("aten::bitwise_and.Tensor", opset)
            assert alias is not None and entry is not None and alias.function is entry.function
            assert alias.source == f"{path.as_posix()}:3"
    finally:
        unload_opspecs(path)
    assert registry.user_specs.find("aten::__and__.Tensor", 18) is None


# -- one function per emission ------------------------------------------------------------------------

def test_generated_holds_no_two_functions_with_the_same_body():
    generated = ROOT / "generated"
    files = {p.name: p.read_text(encoding="utf-8") for p in generated.glob("opset*.py")}
    assert len(files) == len(OPSETS)
    assert duplicate_functions(files) == []


def test_duplicate_functions_are_found():
    one = 'def f(g, self):\n    """one"""\n    return g.op("Relu", self)\n'
    other = 'def k(g, self):\n    """other"""\n    return g.op("Relu", self)\n'
    assert duplicate_functions({"opset9.py": one, "opset13.py": other}) == ["opset13.k = opset9.f"]


def test_overloads_with_the_same_emission_share_one_function(tmp_path: Path):
    specs = _load_text(tmp_path, """
        - aten: fill.Scalar
          emit: Expand(cast_like(value, self), Shape(self))
        - aten: fill.Tensor
          emit: Expand(cast_like(value, self), Shape(self))
        """)
    files = render_all(specs)
    tree = ast.parse(files["opset9.py"])
    assert [n.name for n in tree.body if isinstance(n, ast.FunctionDef)] == ["fill_Scalar"]
    assert "also serves aten::fill.Tensor (spec/spec.yaml:4)" in files["opset9.py"]
    assert [row.entries for row in registry_rows(specs)] == [((9, "opset9.fill_Scalar"),), ((9, "opset9.fill_Scalar"),)]


def test_user_specs_define_and_call_spec_helpers(tmp_path: Path):
    """A user's spec file may define its own spec helpers and call aten2onnx's (reduce_sum)."""
    import torch

    import aten2onnx
    from aten2onnx.exporter.api.user_specs import load_opspecs, unload_opspecs

    path = tmp_path / "mine.yaml"
    path.write_text(textwrap.dedent("""\
        - helper: doubled
          params: [x]
          emit: Add(x, x)
        - aten: neg
          emit: |
            total = reduce_sum(doubled(self), None, False)
            return Neg(total) if opset >= 13 else Sub(like(0, total), total)
        """), encoding="utf-8")

    class Negate(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return -x

    x = torch.randn(2, 3)
    try:
        load_opspecs(path)
        for opset in (12, 13):
            program = aten2onnx.export(Negate(), (x,), opset_version=opset, do_constant_folding=False)
            torch.testing.assert_close(program(x)[0], -(2 * x).sum())  # what the user's spec says
    finally:
        unload_opspecs(path)


def test_support_matrix_counts_entries_by_form(good_specs: list[OpSpec], good_files: dict[str, str]):
    from aten2onnx.codegen.render import form_counts

    counts = form_counts(good_specs)
    assert (counts["entries"], counts["data"], counts["python"], counts["mixed"], counts["helpers"]) == (10, 9, 1, 0, 1)
    assert "| 10 | 9 (90%) | 1 | 0 | 1 |" in good_files["SUPPORT.md"]


# -- test hints: one vocabulary, checked like every other key -----------------------------------

def test_unknown_test_hint_key_fails_codegen(tmp_path: Path):
    """`dtypes:` for `dtype:` used to test float32 only, silently; now codegen names the line."""
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "ops.yaml").write_text("- aten: relu\n  onnx: Relu\n  test:\n    self: {dtypes: [float16]}\n",
                                    encoding="utf-8")
    result = _run_codegen("--specs", str(specs), "--out", str(tmp_path / "out"))
    assert result.returncode != 0
    assert "ops.yaml:4: unknown key 'dtypes' in the test hint for 'self'" in result.stderr
    assert not (tmp_path / "out").exists()


def test_harness_documents_exactly_the_hint_vocabulary():
    """tests/op_inputs.py's docstring explains each key the parser accepts, and no other."""
    import op_inputs

    from aten2onnx.codegen.test_hints import TensorHint, ValueHint, vocabulary

    documented = set()
    for line in (op_inputs.__doc__ or "").splitlines():
        words = line.split()
        if words and words[0].endswith(":") and words[0][:-1].isidentifier():
            documented.add(words[0][:-1])
    keys = set(vocabulary(TensorHint)) | set(vocabulary(ValueHint))
    inline = {"pick", "cond", "masks", "distinct_unless", "extra", "last_if", "short_last", "unless", "as_input"}
    assert keys - documented - inline == set(), "document these keys in tests/op_inputs.py"
    assert all(f"{k}:" in (op_inputs.__doc__ or "") for k in inline), "explain the inline keys too"
    assert documented - keys - {"shapes", "random"} == set(), "the docstring names keys the parser refuses"


# -- list comprehensions in the emit language ---------------------------------------------------

def test_comprehension_entry_renders_and_runs(tmp_path: Path):
    """A comprehension maps over a static list (enumerate, an `if`, a spec helper's param) and feeds
    variadic ops through `*[...]`; its ops are ordinary ops, on either side of an opset branch."""
    import torch

    import aten2onnx
    from aten2onnx.exporter.api.user_specs import load_opspecs, unload_opspecs

    path = tmp_path / "loops.yaml"
    path.write_text(textwrap.dedent("""\
        - helper: axis_totals
          params: [x, axes]
          emit: Concat(*[Reshape(reduce_sum(x, [a], False), ints([-1])) for a in axes], axis=0)
        - aten: neg
          emit: |
            scaled = Sum(self, *[Mul(like(float(k + w), self), self) for k, w in enumerate([1, 2, 3]) if k < rank(self)])
            return axis_totals(scaled, list(range(rank(self))))
        """), encoding="utf-8")

    class Negate(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return -x

    x = torch.randn(2, 3)
    expected = torch.cat([(5 * x).sum(0), (5 * x).sum(1)])  # 1 + (0 + 1) + (1 + 2): rank 2 takes two terms
    try:
        load_opspecs(path)
        for opset in (12, 13):  # ReduceSum's axes: an attribute, then an input
            program = aten2onnx.export(Negate(), (x,), opset_version=opset, do_constant_folding=False)
            torch.testing.assert_close(program(x)[0], expected)
    finally:
        unload_opspecs(path)


def test_comprehension_errors_name_file_and_line(tmp_path: Path):
    """An unknown op inside a comprehension, or a loop variable shadowing an argument, is a
    `file:line` error like any other (tests/fixtures/codegen/bad/comprehension_forms has them all)."""
    with pytest.raises(SpecErrors) as info:
        _load_text(tmp_path, """
            - aten: relu
              emit: Concat(*[Reluu(self) for a in range(2)], axis=0)

            - aten: amax
              emit: Concat(*[ReduceMax(self, keepdims=0) for keepdim in range(2)], axis=0)
            """)
    errors = [str(e) for e in info.value.errors]
    assert errors == [
        "spec/spec.yaml:2: aten::relu.default: 'Reluu' is not an ONNX operator (onnx.defs has no schema for it)",
        "spec/spec.yaml:5: aten::amax.default: emit: the comprehension's loop variable 'keepdim' shadows an "
        "argument or a name the emit assigns; rename it",
    ]


def test_comprehension_keeps_opset_branches(tmp_path: Path):
    """An opset-only test inside a comprehension (its `if` clause, or a conditional in its element)
    is decided per opset: Gelu (opset 20) does not hold these entries back to 20."""
    specs = _load_text(tmp_path, """
        - aten: relu
          emit: Concat(self, *[Gelu(self) for a in range(1) if opset >= 20], axis=0)

        - aten: neg
          emit: Concat(self, *[Gelu(self) if opset >= 20 else Relu(self) for a in range(1)], axis=0)

        - aten: abs
          emit: Concat(self, *[Gelu(self) for a in range(1)], axis=0)
        """)
    assert {s.aten: s.variants[0].since for s in specs} == {
        "aten::relu.default": 1, "aten::neg.default": 1, "aten::abs.default": 20}
