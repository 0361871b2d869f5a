"""Suite validation: every malformed case gives one line naming file, field path and value."""

import pytest

from bench.cli import main
from bench.suite import SuiteError, load_suite, parse_suite
from conftest import SUITES

VALID = """
name: t
dataset: {name: dsprites, params: {image_size: 32}}
budget: {steps: 10}
seeds: [0, 1]
models:
  - model: beta_tcvae
    params: {beta: [1, 4], latent_dim: 4}
  - model: beta_tcvae_l
    label: L
    params: {beta: 4}
metrics: [mig, {name: l1, params: {num_points: 10}}]
"""


def problems_of(text, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    return info.value.problems


def test_valid_suite_expands_sweeps_times_seeds():
    import yaml

    suite = parse_suite(yaml.safe_load(VALID), "s.yaml")
    assert len(suite.jobs) == (2 + 1) * 2
    assert [m.id for m in suite.metrics] == ["mig", "l1[num_points=10]"]
    first = suite.jobs[0]
    assert first.sweep == {"beta": 1.0} and first.params["latent_dim"] == 4
    assert first.budget.steps == 10 and first.budget.batch_size == 64
    assert len({j.key for j in suite.jobs}) == len(suite.jobs)


def test_job_key_is_canonical():
    import yaml

    a = parse_suite(yaml.safe_load(VALID), "a.yaml").jobs
    # same resolved config written differently: int vs float beta, explicit default, key order
    b = parse_suite(yaml.safe_load(VALID.replace("{beta: [1, 4], latent_dim: 4}",
                                                 "{latent_dim: 4, beta: [1.0, 4.0]}")
                                   .replace("{beta: 4}", "{beta: 4.0, latent_dim: 10, z_dim: 5}")), "b.yaml").jobs
    assert [j.key for j in a] == [j.key for j in b]
    c = parse_suite(yaml.safe_load(VALID.replace("steps: 10", "steps: 11")), "c.yaml").jobs
    assert not {j.key for j in a} & {j.key for j in c}  # the budget is part of the key


BAD = [
    ("unknown model", ("model: beta_tcvae\n", "model: beta_tcvea\n"),
     "models[0].model: unknown model 'beta_tcvea'; did you mean 'beta_tcvae'"),
    ("unknown metric", ("metrics: [mig,", "metrics: [mgi,"), "metrics[0].name: unknown metric 'mgi'; did you mean 'mig'"),
    ("unknown dataset", ("name: dsprites", "name: dsprits"), "dataset.name: unknown dataset 'dsprits'"),
    ("wrong type", ("beta: [1, 4]", "beta: [1, four]"), "models[0].params.beta: 'four' is not float"),
    ("negative steps", ("steps: 10", "steps: -5"), "budget.steps: -5 is not a positive step count"),
    ("empty sweep", ("beta: [1, 4]", "beta: []"), "models[0].params.beta: empty sweep []"),
    ("duplicate label", ("label: L", "label: beta_tcvae"), "models[1].label: duplicate label 'beta_tcvae'"),
    ("unknown param", ("latent_dim: 4}", "latnt_dim: 4}"),
     "models[0].params.latnt_dim: unknown parameter 'latnt_dim'; did you mean 'latent_dim'"),
    ("bad dataset param", ("image_size: 32", "image_size: 33"), "dataset.params.image_size: 33 is not a multiple of 16"),
    ("bad metric param", ("num_points: 10", "num_points: 0"), "metrics[1].params.num_points: 0 is below 1"),
    ("missing field", ("metrics: [mig, {name: l1, params: {num_points: 10}}]", ""), "metrics: missing required field"),
    ("unknown top-level field", ("seeds: [0, 1]", "seed: [0, 1]"), "seed: unknown field 'seed'; did you mean 'seeds'"),
    ("bad seed", ("seeds: [0, 1]", "seeds: [0, -1]"), "seeds[1]: expected an integer from 0 to 4294967295, got -1"),
    ("negative beta", ("beta: 4}", "beta: -4}"), "models[1].params.beta: -4 is negative"),
]


@pytest.mark.parametrize("case,edit,message", BAD, ids=[b[0] for b in BAD])
def test_malformed_suite_gives_one_precise_line(case, edit, message, tmp_path):
    assert edit[0] in VALID
    problems = problems_of(VALID.replace(*edit), tmp_path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{tmp_path / 's.yaml'}: ")
    assert message in problems[0]


def test_model_that_cannot_handle_the_data_kind(tmp_path, monkeypatch):
    import models as zoo

    monkeypatch.setattr(zoo.get("beta_tcvae_l"), "supports", frozenset({"tables"}))
    problems = problems_of(VALID, tmp_path)
    assert problems == [f"{tmp_path / 's.yaml'}: models[1].model: 'beta_tcvae_l' cannot handle images data "
                        "(it supports: tables)"]


def test_yaml_syntax_error_and_missing_file(tmp_path):
    problems = problems_of("name: [unclosed\n", tmp_path)
    assert len(problems) == 1 and "line 2" in problems[0] and "not valid YAML" in problems[0]
    with pytest.raises(SuiteError, match="cannot read suite file"):
        load_suite(tmp_path / "nope.yaml")


def test_yaml_is_loaded_safely(tmp_path):
    problems = problems_of("!!python/object/apply:os.system ['echo pwned']\n", tmp_path)
    assert "not valid YAML" in problems[0]


def test_cli_validate_exit_codes_and_no_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(VALID.replace("beta_tcvae\n", "beta_tcvea\n"))
    good = tmp_path / "good.yaml"
    good.write_text(VALID)
    assert main(["validate", str(good)]) == 0
    assert main(["validate", str(bad), str(good)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1
    with pytest.raises(SystemExit) as info:
        main(["run", str(bad)])
    assert info.value.code == 2


@pytest.mark.parametrize("path", sorted(SUITES.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_suites_validate(path):
    suite = load_suite(path)
    assert suite.name == path.stem and suite.jobs


def test_plot_declarations_ask_for_known_capabilities():
    import models as zoo
    from bench.report.registry import plots

    declared = plots()
    assert {"score_vs_beta", "traversals", "paper_tables"} <= set(declared)
    for info in declared.values():
        assert info.needs is None or info.needs in zoo.CAPABILITIES, info.name
        assert info.description and info.kinds <= {"images", "tables", "series"}, info.name


ODD = [
    "name: [1]\ndataset: {name: [x]}\nmodels: [{model: {a: 1}}]\nmetrics: [[1]]\nplots: [{a: 1}]\nseeds: abc\n",
    "name: t\ndataset: 3\nmodels: beta_tcvae\nmetrics: {mig: 1}\nbudget: [1]\n",
    "name: t\ndataset: {name: dsprites, params: [1]}\nmodels: [3, {model: beta_tcvae, params: 1, budget: 2}]\n"
    "metrics: [{name: mig, params: {num_bins: x}}]\n",
    "- just\n- a list\n",
    "",
]


@pytest.mark.parametrize("text", ODD)
def test_odd_structures_give_messages_not_tracebacks(text, tmp_path):
    problems = problems_of(text, tmp_path)
    assert problems and all(p.startswith(str(tmp_path / "s.yaml")) and "\n" not in p for p in problems)


def test_ms_vae_stage_one_is_shared_with_the_listed_beta_tcvae():
    suite = load_suite(SUITES / "quickstart.yaml")
    stage_ones = {j.key: j for j in suite.jobs if j.model == "beta_tcvae"}
    ms_jobs = [j for j in suite.jobs if j.model == "ms_vae"]
    assert ms_jobs
    for job in ms_jobs:
        [(slot, stage)] = job.upstream
        assert slot == "stage_one" and stage.key in stage_ones
        # the override of MS-VAE's own budget does not reach its stage one
        assert stage.budget == stage_ones[stage.key].budget != job.budget


def test_upstream_params_are_validated(tmp_path):
    text = VALID.replace("  - model: beta_tcvae_l\n    label: L\n    params: {beta: 4}",
                         "  - model: ms_vae\n    label: L\n    params: {stage_one: beta_tcvea}")
    problems = problems_of(text, tmp_path)
    assert len(problems) == 1 and "models[1].params: stage_one: unknown model 'beta_tcvea'" in problems[0]


def test_big_vae_is_matched_to_ms_vae_in_every_suite_with_both():
    from bench.data import load

    matched = {}
    for name, shape in (("quickstart", load("dsprites", image_size=32).image_shape), ("cars3d", (3, 64, 64)),
                        ("smallnorb", (1, 64, 64))):
        matched[name] = check_big_vae_matches_ms_vae(load_suite(SUITES / f"{name}.yaml"), shape)
    assert matched == {"quickstart": {"big_vae"}, "cars3d": {"big_vae", "big_beta_tcvae"},
                       "smallnorb": {"big_vae", "big_beta_tcvae"}}


def check_big_vae_matches_ms_vae(suite, shape) -> set:
    """Every capacity-matched entry (Big-VAE, Big-beta-TCVAE) targets MS-VAE's total; returns their models."""
    import torch

    import models as zoo
    from bench.config import build

    def built(job):
        cls = zoo.get(job.model)
        with torch.device("meta"):  # counts only: the paper preset has ~10^8 parameters
            model = cls(build(cls.Config, job.params), shape)
        if job.upstream:
            model.attach({slot: built(stage) for slot, stage in job.upstream})
        return model

    ms = built(next(j for j in suite.jobs if j.model == "ms_vae"))
    bigs = [j for j in suite.jobs if j.model in ("big_vae", "big_beta_tcvae") and j.seed == suite.jobs[0].seed]
    for big in bigs:
        assert big.params["target_params"] == ms.num_params(), big.display
        assert abs(built(big).num_params() - ms.num_params()) < 0.05 * ms.num_params(), big.display
    return {big.model for big in bigs}


# --- hostile suites: each is a reproduction from the hostile-input sweep (scripts/hostile_sweep.py) ---

def test_the_same_job_twice_is_refused(tmp_path):
    """A sweep [1, 1.0] or one spec under two labels used to collapse silently into one job."""
    problems = problems_of(VALID.replace("beta: [1, 4]", "beta: [1, 1.0]"), tmp_path)
    assert len(problems) == 2  # once per seed
    assert "models[0]: beta_tcvae[beta=1] seed=0 is the same job as beta_tcvae[beta=1] seed=0 (models[0])" in problems[0]
    twice = VALID.replace("  - model: beta_tcvae_l\n    label: L\n    params: {beta: 4}",
                          "  - model: beta_tcvae\n    label: again\n    params: {beta: 4.0, latent_dim: 4}")
    problems = problems_of(twice, tmp_path)
    assert len(problems) == 2 and "models[1]: again seed=0 is the same job as beta_tcvae[beta=4] seed=0" in problems[0]


@pytest.mark.parametrize("text,key", [
    (VALID.replace("name: t\n", "name: t\nname: u\n"), "'name'"),
    (VALID.replace("{steps: 10}", "{steps: 10, steps: 20}"), "'steps'"),
    (VALID.replace("{beta: 4}", "{beta: 4, beta: 8}"), "'beta'"),
])
def test_a_key_given_twice_is_refused(text, key, tmp_path):
    [problem] = problems_of(text, tmp_path)
    assert f"not valid YAML: duplicate key {key}" in problem and "line " in problem


def test_yaml_merge_keys_still_override():
    from bench.suite import _SuiteLoader
    import yaml

    assert yaml.load("a: &a {x: 1, y: 2}\nb: {<<: *a, y: 3}\n", Loader=_SuiteLoader)["b"] == {"x": 1, "y": 3}


@pytest.mark.parametrize("written", ["1e-3", "1E-3", "+1e-3", "1.0e-3", "0.001"])
def test_learning_rates_as_people_write_them(written, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(VALID.replace("{steps: 10}", f"{{steps: 10, learning_rate: {written}}}"))
    suite = load_suite(path)
    assert suite.jobs[0].budget.learning_rate == 0.001
    path.write_text(VALID.replace("{steps: 10}", "{steps: 10, learning_rate: 1.0e-3}"))
    assert [j.key for j in load_suite(path).jobs] == [j.key for j in suite.jobs]


def test_yaml_1_2_floats_leave_strings_and_ints_alone():
    from bench.suite import _SuiteLoader
    import yaml

    loaded = yaml.load("[1e3, 5e-4, '1e-3', 1, 0x10, e5, 1e, .inf]", Loader=_SuiteLoader)
    assert loaded[:7] == [1000.0, 5e-4, "1e-3", 1, 16, "e5", "1e"] and loaded[7] == float("inf")


def test_a_huge_sweep_is_counted_not_built(tmp_path):
    """5 params x 100 values used to build 10**10 jobs in memory before anything was checked."""
    values = "[" + ", ".join(str(v) for v in range(1, 101)) + "]"
    text = VALID.replace("params: {beta: [1, 4], latent_dim: 4}",
                         f"params: {{beta: {values}, latent_dim: {values}, z_dim: {values}, "
                         f"width: {values}, target_params: {values}}}").replace("model: beta_tcvae\n", "model: big_vae\n")
    [problem] = problems_of(text, tmp_path)
    assert "models: the sweeps expand to 20,000,000,002 jobs, over the limit of 100,000" in problem
    path = tmp_path / "small.yaml"
    path.write_text(VALID)
    with pytest.raises(SuiteError, match="expand to 6 jobs, over the limit of 5"):
        load_suite(path, max_jobs=5)


def test_an_alias_bomb_is_never_echoed_in_full(tmp_path):
    """Billion laughs: 9**10 leaves behind shared references. Messages used to repr() it in full."""
    bomb = "anchors: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10))
    for edit in (("name: t", "name: *l9"), ("seeds: [0, 1]", "seeds: *l9"), ("latent_dim: 4}", "latent_dim: *l9}"),
                 ("metrics: [mig,", "metrics: [*l9, mig,"), ("{steps: 10}", "*l9")):
        problems = problems_of(bomb + VALID.replace(*edit), tmp_path)
        assert problems and all(len(p) < 600 for p in problems), edit


@pytest.mark.parametrize("edit,message", [
    (("seeds: [0, 1]", "seeds: [0, 9223372036854775808]"), "seeds[1]: expected an integer from 0 to 4294967295"),
    (("name: t", "name: '..'"), "name: expected a name of letters"),
    (("name: t", "name: ."), "name: expected a name of letters"),
    (("name: t", "name: " + "x" * 300), "name: expected a name of letters"),
    (("name: t", 'name: "a\\nb"'), "name: expected a name of letters"),
    (("name: t", 'name: "a\\0b"'), "name: expected a name of letters"),
    (("name: t", "name: a/b"), "name: expected a name of letters"),
    (("label: L", "label: " + "x" * 101), "models[1].label: expected a label of up to 100 printable characters"),
    (("{steps: 10}", "{steps: 10, learning_rate: .inf}"), "budget.learning_rate: inf is not a finite number"),
    (("beta: 4}", "beta: .inf}"), "models[1].params.beta: inf is not a finite number"),
    (("beta: 4}", "beta: .nan}"), "models[1].params.beta: nan is not a finite number"),
    (("model: beta_tcvae_l\n    label: L\n    params: {beta: 4}", "model: ms_vae\n    label: L\n    params: {stage_one: ms_vae}"),
     "models[1].params: stage_one: 'ms_vae' builds on stages of its own"),
])
def test_values_that_used_to_validate_and_then_crash(edit, message, tmp_path):
    assert edit[0] in VALID
    [problem] = problems_of(VALID.replace(*edit), tmp_path)
    assert message in problem and "\n" not in problem


@pytest.mark.parametrize("content,message", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not UTF-8 text (byte 0x89 at offset 0)"),
    (VALID.replace("name: t", "name: t\ndescription: caf\xe9").encode("latin-1"), "not UTF-8 text (byte 0xe9"),
    (VALID.encode("utf-16"), "not UTF-8 text (byte 0xff at offset 0)"),
    (b"name: t\x00\n", "not valid YAML"),
    (b"# " + b"x" * (1 << 20) + b"\n", "over 1 MiB"),
])
def test_files_that_are_not_utf8_yaml(content, message, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_bytes(content)
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    [problem] = info.value.problems
    assert message in problem and len(problem) < 600


def test_utf8_with_a_byte_order_mark_is_fine(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_bytes(VALID.encode("utf-8-sig"))
    assert load_suite(path).name == "t"


def test_ls_suites_lists_the_good_ones_beside_a_binary_file(tmp_path, capsys):
    (tmp_path / "good.yaml").write_text(VALID.replace("name: t", "name: good"))
    (tmp_path / "bad.yaml").write_bytes(bytes(range(256)))
    assert main(["ls", "suites", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "good" in out and "bad              INVALID:" in out and "not UTF-8" in out


def test_a_list_nested_thousands_deep_is_refused(tmp_path):
    [problem] = problems_of("name: " + "[" * 5000 + "]" * 5000 + "\n", tmp_path)
    assert "nested too deeply" in problem


def test_a_datasets_version_is_part_of_every_job_key(monkeypatch):
    """A changed simulator or reader (its version bumped) must retrain, never reuse old models."""
    from bench import data

    before = load_suite(SUITES / "credit.yaml")
    assert all(job.dataset["version"] == data.get("credit").version for job in before.jobs)
    monkeypatch.setattr(data.get("credit"), "version", "99")
    after = load_suite(SUITES / "credit.yaml")
    assert [job.key for job in before.jobs] != [job.key for job in after.jobs]
    assert not {job.key for job in before.jobs} & {job.key for job in after.jobs}


def test_num_points_all_needs_a_dataset_held_in_memory(tmp_path):
    """The paper's FID scores whole datasets (17,568 Cars3D images); a procedural set has no 'whole'."""
    text = ("name: t\ndataset: {name: NAME}\nmodels: [{model: beta_tcvae}]\n"
            "metrics: [{name: fd_domain, params: {num_points: all}}]\n")
    with pytest.raises(SuiteError, match="num_points: all scores every image"):
        parse_suite(__import__("yaml").safe_load(text.replace("NAME", "dsprites")), tmp_path / "t.yaml")
    suite = parse_suite(__import__("yaml").safe_load(text.replace("NAME", "digits")), tmp_path / "t.yaml")
    assert suite.metrics[0].params["num_points"] == "all"


def test_every_image_is_the_whole_dataset_in_order():
    from bench.data import load

    data = load("digits")
    images, factors = data.every_image()
    assert len(images) == len(data) == 1797 and images.shape[1:] == data.image_shape
    assert (factors[:, 0] == __import__("sklearn.datasets").datasets.load_digits().target).all()
