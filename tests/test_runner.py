"""The runner: grid expansion, refused specs, failures kept, runs never overwrite each other."""
from __future__ import annotations

import json

import nbformat
import pytest
import yaml

from lab.cli import main
from lab.report import build_index, redact_ids, render_run
from lab.runner import SpecError, execute, load_spec, parse_override, prepare, run_spec

WRITE_RESULTS = "import pathlib\npathlib.Path(output_dir, 'results.csv').write_text('model,metric,value\\nm,x,1\\n')"


def make_notebook(path, body=WRITE_RESULTS):
    """A tiny study notebook: a parameters cell, then ``body``."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("seed = 0\noutput_dir = 'out'\nalpha = 1.0\nname = 'a'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def run_one(plan, runs_dir):
    """Prepare one plan's folder and execute it, as the serial runner does."""
    return execute(plan, prepare(plan, runs_dir))


def write_spec(tmp_path, spec, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.fixture
def notebook(tmp_path):
    return make_notebook(tmp_path / "study.ipynb")


def test_seeds_times_grid_expand_to_one_run_each(tmp_path, notebook):
    spec = write_spec(tmp_path, {"name": "s", "notebook": str(notebook), "parameters": {"name": "b"},
                                 "seeds": [1, 2, 3], "grid": {"alpha": [0.1, 0.2]}})
    plans = load_spec(spec)
    assert len(plans) == 6
    combos = {(p.parameters["seed"], p.parameters["alpha"]) for p in plans}
    assert combos == {(s, a) for s in (1, 2, 3) for a in (0.1, 0.2)}
    assert all(p.parameters["name"] == "b" for p in plans)


def test_set_overrides_a_parameter_with_a_typed_value(tmp_path, notebook):
    spec = write_spec(tmp_path, {"notebook": str(notebook)})
    key, value = parse_override("alpha=0.5")
    assert load_spec(spec, {key: value})[0].parameters["alpha"] == 0.5


@pytest.mark.parametrize("spec, message", [
    ({"notebook": "NB", "parameters": {"beta": 1}}, "has no parameter(s) ['beta']"),
    ({"notebook": "NB", "grid": {"gamma": [1, 2]}}, "has no parameter(s) ['gamma']"),
    ({"notebook": "NB", "colour": "red"}, "unknown key(s) ['colour']"),
    ({"notebook": "missing.ipynb"}, "notebook not found"),
    ({"notebook": "NB", "seeds": "1"}, "'seeds' must be a non-empty list"),
    ({"notebook": "NB", "grid": {"alpha": 3}}, "'grid' must map"),
    ({"notebook": "NB", "parameters": {"output_dir": "x"}}, "'output_dir' is set by the runner"),
    ({"parameters": {}}, "give either 'notebook'"),
])
def test_bad_spec_is_refused_before_anything_runs(tmp_path, notebook, spec, message):
    spec = {k: (str(notebook) if v == "NB" else v) for k, v in spec.items()}
    path = write_spec(tmp_path, spec)
    runs = tmp_path / "runs"
    with pytest.raises(SpecError) as err:
        run_spec(path, runs_dir=runs)
    assert message in str(err.value)
    assert not runs.exists()


def test_unknown_set_key_and_bad_yaml_are_refused(tmp_path, notebook, capsys):
    spec = write_spec(tmp_path, {"notebook": str(notebook)})
    assert main(["run", str(spec), "--set", "nope=1", "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "no notebook of spec.yaml has such a parameter" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("notebook: [unclosed")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)


def test_failure_is_kept_others_go_on_and_exit_is_nonzero(tmp_path, notebook):
    failing = make_notebook(tmp_path / "fails.ipynb", body="raise RuntimeError('boom at alpha')")
    spec = write_spec(tmp_path, {"name": "mixed", "studies": [{"notebook": str(failing)},
                                                               {"notebook": str(notebook)}]})
    runs, reports = tmp_path / "runs", tmp_path / "reports"
    code = main(["run", str(spec), "--quiet", "--runs-dir", str(runs), "--reports-dir", str(reports)])
    assert code == 1
    folders = sorted(runs.iterdir())
    statuses = {json.loads((f / "status.json").read_text())["status"] for f in folders}
    assert statuses == {"ok", "failed"}
    failed = next(f for f in folders if json.loads((f / "status.json").read_text())["status"] == "failed")
    assert "boom at alpha" in json.loads((failed / "status.json").read_text())["error"]
    assert (failed / "notebook.ipynb").exists()
    for folder in folders:
        assert {"params.yaml", "environment.json", "run.log", "notebook.ipynb"} <= {p.name for p in folder.iterdir()}
    index = (reports / "index.html").read_text()
    assert "boom at alpha" in index and index.count("<tr class=") == 2


def test_same_plan_twice_gives_two_folders(tmp_path, notebook):
    spec = write_spec(tmp_path, {"notebook": str(notebook)})
    plan = load_spec(spec)[0]
    first = run_one(plan, tmp_path / "runs")
    second = run_one(plan, tmp_path / "runs")
    assert first.folder != second.folder
    assert first.status == second.status == "ok"
    assert (first.folder / "results.csv").exists() and (second.folder / "results.csv").exists()
    env = json.loads((first.folder / "environment.json").read_text())
    assert env["seed"] == 0 and env["packages"]["pandas"]


def test_notebook_without_results_is_marked_failed(tmp_path):
    quiet = make_notebook(tmp_path / "quiet.ipynb", body="x = 1")
    result = run_one(load_spec(write_spec(tmp_path, {"notebook": str(quiet)}))[0], tmp_path / "runs")
    assert result.status == "failed" and "results.csv" in result.error


def test_report_hides_code_and_user_ids(tmp_path):
    body = ("import sys\nimport pandas as pd\nfrom IPython.display import display\n"
            "display(pd.DataFrame({'user_id': [123456789], 'score': [0.5]}))\n"
            "print('PROGRESS_BAR_MARKER'.lower(), file=sys.stderr)\n"
            "print('SECRET_CODE_MARKER' [:6])")
    nb_path = make_notebook(tmp_path / "ids.ipynb", body=body + "\nimport pathlib\n"
                            "pathlib.Path(output_dir, 'results.csv').write_text('model,metric,value\\nm,x,1\\n')")
    result = run_one(load_spec(write_spec(tmp_path, {"notebook": str(nb_path)}))[0], tmp_path / "runs")
    html = render_run(result.folder, tmp_path / "reports").read_text()
    assert "123456789" not in html
    assert "SECRET_CODE_MARKER" not in html  # the code itself is hidden
    assert "SECRET" in html  # ...but its output is shown
    assert "raw user ids was removed" in html
    assert "progress_bar_marker" not in html  # stderr (progress bars, warnings) stays in the run folder
    assert "progress_bar_marker" in (result.folder / "notebook.ipynb").read_text()
    index = build_index(tmp_path / "runs", tmp_path / "reports").read_text()
    assert result.folder.name in index


def test_redact_ids_leaves_other_outputs():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    listing = {"text/html": "<table><tr><th>columns</th></tr><tr><td>user_id, age</td></tr></table>",
               "text/plain": "columns  user_id, age"}
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="auc 0.9\n"),
                    nbformat.v4.new_output("execute_result", data=listing, execution_count=1)]
    nb.cells = [cell]
    assert redact_ids(nb) == 0 and nb.cells[0].outputs[0]["text"] == "auc 0.9\n"
    assert nb.cells[0].outputs[1]["data"] == listing


@pytest.mark.parametrize("override, message", [
    ("seed=1.5", "parameter 'seed' must be an integer like its default 0, got 1.5"),
    ("alpha=true", "parameter 'alpha' must be a number"),
    ("alpha=high", "parameter 'alpha' must be a number like its default 1.0, got 'high'"),
    ("name=3", "parameter 'name' must be a string"),
    ("alpha=[1, 2", "--set alpha: the value is not valid YAML"),
])
def test_set_values_are_checked_against_the_notebook_types(tmp_path, notebook, override, message):
    spec = write_spec(tmp_path, {"notebook": str(notebook)})
    with pytest.raises(SpecError) as err:
        load_spec(spec, dict([parse_override(override)]))
    assert message in str(err.value)


def test_spec_values_and_seeds_are_type_checked(tmp_path, notebook):
    for spec, message in (({"notebook": str(notebook), "seeds": [True]}, "'seeds' must be a non-empty list"),
                          ({"notebook": str(notebook), "grid": {"alpha": [0.1, "x"]}}, "must be a number"),
                          ({"notebook": str(notebook), "parameters": {"seed": "1"}}, "must be an integer")):
        with pytest.raises(SpecError, match=message):
            load_spec(write_spec(tmp_path, spec))


def test_duplicate_yaml_keys_are_refused(tmp_path, notebook):
    path = tmp_path / "dup.yaml"
    path.write_text(f"notebook: {notebook}\nparameters:\n  alpha: 0.1\n  alpha: 0.2\n")
    with pytest.raises(SpecError, match="key 'alpha' is given twice"):
        load_spec(path)


def test_set_of_a_swept_key_is_refused(tmp_path, notebook):
    spec = write_spec(tmp_path, {"notebook": str(notebook), "seeds": [1, 2], "grid": {"alpha": [0.1, 0.2]}})
    for override in ("seed=3", "alpha=0.5"):
        with pytest.raises(SpecError, match="the spec sweeps it"):
            load_spec(spec, dict([parse_override(override)]))


def test_set_that_some_studies_cannot_take_is_listed_by_study(tmp_path, notebook):
    other = tmp_path / "other.ipynb"
    make_notebook(other)
    nb = nbformat.read(other, as_version=4)
    nb.cells[0].source = "seed = 0\noutput_dir = 'out'\ndata_dir = ''"
    nbformat.write(nb, other)
    spec = write_spec(tmp_path, {"name": "both", "studies": [{"notebook": str(notebook), "name": "first"},
                                                             {"notebook": str(other), "name": "second"}]})
    with pytest.raises(SpecError, match="--set data_dir: first has no such parameter"):
        load_spec(spec, {"data_dir": "x"})
    assert len(load_spec(spec, {"seed": 4})) == 2


def test_string_parameters_with_operators_are_read(tmp_path, notebook):
    nb = nbformat.read(notebook, as_version=4)
    nb.cells[0].source += '\nsegment_query = "credit_score >= 700"'
    nbformat.write(nb, notebook)
    spec = write_spec(tmp_path, {"notebook": str(notebook)})
    plan = load_spec(spec, dict([parse_override("segment_query=age < 30")]))[0]
    assert plan.parameters["segment_query"] == "age < 30"


def test_ids_in_error_messages_stay_out_of_reports_and_the_index(tmp_path):
    body = ("raise ValueError(\"users: column 'user_id' must be unique but repeats 2 id(s), "
            "e.g. 9876501, 9876502\")")
    notebook = make_notebook(tmp_path / "bad.ipynb", body=body)
    runs, reports = tmp_path / "runs", tmp_path / "reports"
    result = run_one(load_spec(write_spec(tmp_path, {"notebook": str(notebook)}))[0], runs)
    assert result.status == "failed" and "9876501" in result.error
    page = render_run(result.folder, reports).read_text()
    index = build_index(runs, reports).read_text()
    for text in (page, index):
        assert "9876501" not in text and "9876502" not in text
        assert "repeats 2 id(s), e.g. [ids removed]" in text


def test_simulate_refuses_a_folder_that_holds_tables(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "users.csv").write_text("user_id\n1\n")
    assert main(["simulate", str(mine), "--n-users", "100"]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert not (mine / "users.parquet").exists()
    assert main(["simulate", str(mine), "--n-users", "100", "--force"]) == 0
    assert (mine / "users.parquet").exists()


def test_bad_simulation_parameters_are_one_line(tmp_path, capsys):
    assert main(["simulate", str(tmp_path / "w"), "--n-users", "100", "--n-days", "3"]) == 2
    assert capsys.readouterr().err.startswith("error: shift_days (20,) must lie strictly inside")
