"""The benchmark harness's own logic: arguments, CSV input, tables, synthetic data. No timings."""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from benchmarks import cli, inputs, measure, models, report, run, scale, synthetic
from benchmarks.measure import (
    describe_machine,
    machine,
    median_time,
    median_wall_and_cpu,
    traced_peak,
)

# ----------------------------------------------------------------------------- arguments


def test_defaults_run_every_model_three_times():
    args = cli.parse_args([])
    assert args.models == list(models.MODELS)
    assert args.repeats == 3
    assert not args.scale and args.sizes is None and args.train is None


@pytest.mark.parametrize("given", [["als,sgd"], ["als", "sgd"], ["als", "sgd,als"]])
def test_models_accept_spaces_or_commas_and_drop_repeats(given):
    assert cli.parse_args(["--models", *given]).models == ["als", "sgd"]


def _usage_error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli.parse_args(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_unknown_model_is_named_with_the_known_ones(capsys):
    err = _usage_error(["--models", "als", "svdpp"], capsys)
    assert "unknown model(s) ['svdpp']" in err
    assert "global_mean, biases, sgd, svd_impute, als" in err


def test_scale_accepts_only_the_scale_models(capsys):
    err = _usage_error(["--scale", "--models", "biases"], capsys)
    assert "unknown model(s) ['biases']; choose from als, als_f32, sgd" in err


def test_train_needs_test(capsys):
    assert "--train and --test go together" in _usage_error(["--train", "a.csv"], capsys)
    assert "--train and --test go together" in _usage_error(["--test", "b.csv"], capsys)


def test_scale_does_not_take_csv_files(capsys):
    err = _usage_error(["--scale", "--train", "a.csv", "--test", "b.csv"], capsys)
    assert "cannot be combined with --train/--test" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["--sizes", "1e5"],
        ["--iterations", "2"],
        ["--epochs", "2"],
        ["--memory-limit", "4"],
        ["--spark"],
    ],
)
def test_scaling_options_need_scale(argv, capsys):
    assert f"{argv[0]} only applies with --scale" in _usage_error(argv, capsys)


def test_scale_defaults_to_the_four_sizes():
    args = cli.parse_args(["--scale"])
    assert args.sizes == [100_000, 1_000_000, 5_000_000, 25_000_000]
    assert args.models == ["als", "als_f32", "sgd"]
    assert (args.iterations, args.epochs, args.memory_limit) == (3, 2, 8.0)
    args = cli.parse_args(["--scale", "--iterations", "7", "--memory-limit", "2.5"])
    assert (args.iterations, args.epochs, args.memory_limit) == (7, 2, 2.5)


def test_sizes_in_any_notation():
    args = cli.parse_args(["--scale", "--sizes", "1e5", "2.5e7", "1_000_000", "2000"])
    assert args.sizes == [100_000, 25_000_000, 1_000_000, 2_000]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lots", "is not a number"),
        ("1234.5", "not a whole number"),
        ("inf", "not a whole number"),
        ("100", "below the minimum of 1,000"),
    ],
)
def test_bad_sizes(text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        cli.parse_size(text)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--repeats", "0"], "'0' must be at least 1"),
        (["--repeats", "two"], "'two' is not an integer"),
        (["--scale", "--memory-limit", "0"], "--memory-limit must be a positive number"),
    ],
)
def test_bad_numbers(argv, message, capsys):
    assert message in _usage_error(argv, capsys)


def test_parse_model_names_directly():
    assert models.parse_model_names(None) == list(models.MODELS)
    with pytest.raises(ValueError, match="no model named"):
        models.parse_model_names([" , "])


def test_every_model_has_documented_parameters():
    assert set(models.PARAMS) == set(models.MODELS)
    assert set(models.SCALE_MODELS) <= set(models.MODELS)
    for name, key in models.SCALE_MODELS.items():
        assert key in models.PARAMS[name]


def test_format_params():
    assert models.format_params({}) == "-"
    text = models.format_params({"k": 50, "reg": 0.1, "weighted": True, "impute": "baseline"})
    assert text == "k=50, reg=0.1, weighted=True, impute=baseline"


# ----------------------------------------------------------------------------- CSV input


def _csv(tmp_path, text: str, name: str = "r.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_a_ratings_csv_ignoring_other_columns(tmp_path):
    path = _csv(tmp_path, "userId,movieId,rating,timestamp\n1,10,4.0,964982703\n2,10,3.5,1\n")
    table = inputs.read_ratings_csv(path)
    assert list(table.columns) == ["userId", "movieId", "rating"]
    assert table["userId"].dtype == np.int64 and table["rating"].dtype == np.float64
    assert table["rating"].tolist() == [4.0, 3.5]
    assert table["movieId"].tolist() == [10, 10]


def test_column_order_and_spaces_do_not_matter(tmp_path):
    path = _csv(tmp_path, "rating, userId, movieId\n5, 7, 3\n")
    table = inputs.read_ratings_csv(path)
    assert table.iloc[0].tolist() == [7, 3, 5.0]


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"--train file .*nope\.csv does not exist"):
        inputs.read_ratings_csv(tmp_path / "nope.csv", "--train")


def test_a_folder_is_not_a_file(tmp_path):
    with pytest.raises(ValueError, match="is not a file"):
        inputs.read_ratings_csv(tmp_path)


def test_empty_file(tmp_path):
    with pytest.raises(ValueError, match="is empty: expected a header line"):
        inputs.read_ratings_csv(_csv(tmp_path, ""))


def test_header_without_ratings(tmp_path):
    with pytest.raises(ValueError, match="has a header but no ratings"):
        inputs.read_ratings_csv(_csv(tmp_path, "userId,movieId,rating\n"))


def test_missing_column_is_named(tmp_path):
    path = _csv(tmp_path, "userId,itemId,rating\n1,2,3\n")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['movieId'\]: it has"):
        inputs.read_ratings_csv(path)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("1,1,4\n1,2,\n", r"1 missing \(empty or NaN\) rating value\(s\), at data row\(s\) 2"),
        ("1,1,NaN\n", r"missing \(empty or NaN\) rating value\(s\), at data row\(s\) 1"),
        ("1,1,4\n2,1,good\n", r"1 rating value\(s\) are not finite numbers.* 2 \(values 'good'\)"),
        ("1,1,inf\n", r"rating value\(s\) are not finite numbers"),
        ("1,1,5.5\n1,2,4\n1,3,0\n", r"2 rating\(s\) outside 0.5–5 stars, at data row\(s\) 1, 3"),
        ("1,1,-1\n", r"outside 0.5–5 stars.*\(values -1"),
        ("x,1,4\n", r"1 userId value\(s\) are not finite numbers"),
        ("1,,4\n", r"missing \(empty or NaN\) movieId"),
        ("1.5,1,4\n", r"userId value\(s\) are not integers, at data row\(s\) 1 \(values 1.5\)"),
        ("1,1,4\n1,1,3\n", r"1 repeated \(userId, movieId\) pair\(s\).*userId=1, movieId=1"),
    ],
)
def test_bad_values_are_reported_with_their_rows(tmp_path, body, message):
    path = _csv(tmp_path, "userId,movieId,rating\n" + body)
    with pytest.raises(ValueError, match=message):
        inputs.read_ratings_csv(path, "--test")


def test_many_bad_rows_are_summarised(tmp_path):
    body = "".join(f"1,{i},9\n" for i in range(8))
    path = _csv(tmp_path, "userId,movieId,rating\n" + body)
    with pytest.raises(ValueError, match=r"8 rating\(s\).* 1, 2, 3, 4, 5 and 3 more"):
        inputs.read_ratings_csv(path)


def test_cli_reports_a_bad_file_without_a_traceback(tmp_path, capsys):
    good = _csv(tmp_path, "userId,movieId,rating\n1,1,4\n", "train.csv")
    code = cli.main(["--train", str(good), "--test", str(tmp_path / "missing.csv")])
    err = capsys.readouterr().err
    assert code == 2
    assert "error: --test file" in err and "does not exist" in err
    assert "Traceback" not in err


def test_cli_leaves_the_warning_filters_as_it_found_them(tmp_path, capsys):
    good = _csv(tmp_path, "userId,movieId,rating\n1,1,4\n", "train.csv")
    before = list(warnings.filters)
    cli.main(["--train", str(good), "--test", str(tmp_path / "missing.csv")])
    capsys.readouterr()
    assert warnings.filters == before


def test_describe_counts_users_and_movies_of_both_sides():
    train = pd.DataFrame({"userId": [1, 2], "movieId": [5, 5], "rating": [4.0, 3.0]})
    test = pd.DataFrame({"userId": [3], "movieId": [6], "rating": [2.0]})
    assert inputs.describe(train, test) == {
        "train_ratings": 2,
        "test_ratings": 1,
        "users": 3,
        "movies": 2,
    }


# ----------------------------------------------------------------------------- tables


def test_seconds_and_megabytes_formats():
    assert report.fmt_seconds(0.000412) == "0.000412"
    assert report.fmt_seconds(0.02134) == "0.0213"
    assert report.fmt_seconds(0.1234) == "0.123"
    assert report.fmt_seconds(0.1) == "0.100"
    assert report.fmt_seconds(1.523) == "1.52"
    assert report.fmt_seconds(123.4) == "123"
    assert report.fmt_seconds(float("nan")) == "n/a"
    assert report.fmt_mb(12.345) == "12.3"
    assert report.fmt_mb(1234.5) == "1234"


def _result(**overrides):
    row = {
        "name": "als",
        "label": "ALS",
        "params_text": "k=50, reg=0.1",
        "rmse": 0.85291,
        "mae": 0.65,
        "fit_s": 1.234,
        "predict_s": 0.0031,
        "peak_mb": 75.25,
    }
    return row | overrides


def test_results_table_has_the_agreed_columns():
    lines = report.results_table([_result()]).splitlines()
    assert lines[0] == "| model | params | RMSE | MAE | fit s | predict s | peak MB |"
    assert lines[1] == "|---|---|---:|---:|---:|---:|---:|"
    assert lines[2] == "| ALS | k=50, reg=0.1 | 0.8529 | 0.6500 | 1.23 | 0.00310 | 75.2 |"
    assert len(lines) == 3


def test_pipes_in_cells_are_escaped():
    table = report.results_table([_result(params_text="a|b")])
    assert "| a\\|b |" in table


def test_targets_compare_with_the_bounds():
    results = [
        _result(seconds_per_pass=0.06, pass_unit="iteration"),
        _result(name="sgd", label="biased SGD", seconds_per_pass=0.25, pass_unit="epoch"),
        _result(name="biases", label="damped biases", seconds_per_pass=0.01),
    ]
    lines = run.targets_text(results)
    assert lines == [
        "- ALS, 20 iterations: 1.20 s (target ≤ 1.5 s: met)",
        "- biased SGD, one epoch: 0.250 s (target ≤ 0.1 s: not met)",
    ]


def test_passes_reads_epochs_or_iterations():
    assert run.passes({"k": 5, "epochs": 20}) == ("epoch", 20)
    assert run.passes({"iterations": 3}) == ("iteration", 3)
    assert run.passes({}) is None


@pytest.fixture
def no_gc(monkeypatch):
    """Skip the full garbage collections before each measured call: slow in a test process."""
    monkeypatch.setattr(measure.gc, "collect", lambda: 0)


def test_benchmark_of_the_global_mean_on_tiny_data(tmp_path, no_gc):
    train = pd.DataFrame({"userId": [1, 2], "movieId": [1, 2], "rating": [4.0, 2.0]})
    test = pd.DataFrame({"userId": [1, 3], "movieId": [2, 9], "rating": [5.0, 1.0]})
    result = run.benchmark_model("global_mean", train, test, repeats=2)
    assert result["rmse"] == pytest.approx(2.0) and result["mae"] == pytest.approx(2.0)
    assert len(result["fit_times"]) == 2 and len(result["predict_times"]) == 2
    assert result["peak_mb"] >= 0 and "seconds_per_pass" not in result
    data = {"source": "tiny", "default": False, **inputs.describe(train, test)}
    markdown, paths = run.run_benchmark(
        ["global_mean"], train, test, data, repeats=1, out_dir=tmp_path, log=lambda _: None
    )
    assert [p.name for p in paths] == ["results.md", "results.json"]
    assert "| global mean | - | 2.0000 | 2.0000 |" in markdown
    assert "Machine: " in markdown and "Targets" not in markdown
    saved = json.loads(paths[1].read_text())
    assert saved["results"][0]["rmse"] == pytest.approx(2.0)
    assert saved["machine"]["numpy"] == np.__version__


def test_a_failing_model_gets_a_row_and_the_others_still_run(tmp_path, no_gc, monkeypatch):
    train = pd.DataFrame({"userId": [1, 2], "movieId": [1, 2], "rating": [4.0, 2.0]})
    real_fit = models.fit

    def fit(name, data, params=None):
        if name == "biases":
            raise MemoryError("a dense 200000 x 50000 matrix does not fit")
        return real_fit(name, data, params)

    monkeypatch.setattr(models, "fit", fit)
    data = {"source": "tiny", "default": True, **inputs.describe(train, train)}
    markdown, _ = run.run_benchmark(
        ["biases", "global_mean"], train, train, data, repeats=1, out_dir=tmp_path, log=print
    )
    lines = markdown.splitlines()
    assert "| damped biases | damping=2, iterations=5 | failed | failed | failed |" in markdown
    assert any(line.startswith("| global mean | - | 1.0000 |") for line in lines)
    assert "- damped biases failed: MemoryError: a dense 200000 x 50000" in markdown


def test_machine_description_names_cpus_numpy_and_threads():
    info = machine()
    text = describe_machine(info)
    assert f"NumPy {np.__version__}" in text
    assert f"{info['cpu_count']} CPU(s)" in text
    assert "Thread pools:" in text


def test_median_time_and_traced_peak(no_gc):
    median, times, result = median_time(lambda: 7, 3)
    assert result == 7 and len(times) == 3 and median == sorted(times)[1]
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        median_time(lambda: 7, 0)
    both = median_wall_and_cpu(lambda: 8, 3)
    assert both["result"] == 8 and len(both["wall_times"]) == len(both["cpu_times"]) == 3
    assert both["cpu"] == sorted(both["cpu_times"])[1]
    peak, array = traced_peak(lambda: np.ones(1_000_000))  # 8 MB held
    assert array.nbytes <= peak < 2 * array.nbytes


# ----------------------------------------------------------------------------- scaling


def test_loglog_slope():
    x = [1e3, 1e4, 1e5]
    assert scale.loglog_slope(x, [3e-3, 3e-2, 3e-1]) == pytest.approx(1.0)
    assert scale.loglog_slope(x, [1.0, 100.0, 10_000.0]) == pytest.approx(2.0)
    assert scale.loglog_slope([1e3], [1.0]) is None


def _scale_row(n: int, seconds: float) -> dict:
    return {
        "n_ratings": n,
        "n_users": n // 100,
        "n_items": 50,
        "model": "als",
        "label": "ALS",
        "unit": "iteration",
        "passes": 5,
        "repeats": 3,
        "seconds_per_pass": seconds,
        "cpu_seconds_per_pass": 2 * seconds,
        "fit_s": 5 * seconds,
        "build_s": 0.01,
        "fit_peak_mb": n / 1e4,
        "process_peak_mb": 100.0,
    }


def test_scale_table_and_slopes_skip_failures():
    failed = {"n_ratings": 10**8, "model": "als", "error": "MemoryError"}
    rows = [_scale_row(1_000, 0.01), _scale_row(10_000, 0.1), failed]
    assert scale.slopes(rows, "seconds_per_pass") == {"als": pytest.approx(1.0)}
    table = scale.scale_table(rows).splitlines()
    assert table[0].startswith("| ratings | users × movies | model | s / pass | CPU s / pass |")
    assert table[3] == (
        "| 10,000 | 100 × 50 | ALS | 0.100 per iteration | 0.200 | 0.500 (5 × 3) | 0.0100 | 1.0 "
        "| 100 |"
    )
    assert "| 100,000,000 |" in table[4] and "failed: MemoryError" in table[4]


def test_scale_targets_for_als():
    rows = [_scale_row(5_000_000, 2.5) | {"process_peak_mb": 1000.0}]
    single = _scale_row(5_000_000, 1.25) | {"process_peak_mb": 480.0}
    rows.append(single | {"model": "als_f32", "label": "ALS-WR, float32"})
    rows.append({"n_ratings": 25_000_000, "model": "als", "error": "MemoryError"})
    assert scale.targets_text(rows) == [
        "- ALS, 5,000,000 ratings, 20 iterations: 50.0 s (20 × 2.50 s per iteration; "
        "target ≤ 30 s: not met)",
        "- ALS, 5,000,000 ratings, peak memory of the whole process: 1000 MB "
        "(target ≤ 0.5 GB: not met)",
        "- ALS-WR, float32, 5,000,000 ratings, 20 iterations: 25.0 s (20 × 1.25 s per "
        "iteration; target ≤ 30 s: met)",
        "- ALS-WR, float32, 5,000,000 ratings, peak memory of the whole process: 480 MB "
        "(target ≤ 0.5 GB: met)",
        "- ALS-WR, 25,000,000 ratings: failed (MemoryError): target not met",
    ]


def test_rerender_writes_the_report_and_the_figure(tmp_path):
    rows = [_scale_row(1_000, 0.01), _scale_row(10_000, 0.1)]
    payload = {"measured": "today", "machine": machine(), "results": rows}
    path = tmp_path / "scaling.json"
    path.write_text(json.dumps(payload))
    md, png = scale.rerender(path)
    text = md.read_text()
    assert "- ALS: wall time per iteration 1.00; CPU time 1.00; fit peak memory 1.00" in text
    assert "![scaling](scaling.png)" in text and "Measured today" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------- synthetic data


def test_synthetic_ratings_have_exactly_the_requested_distinct_pairs():
    table = synthetic.synthetic_ratings(20_000, seed=1)
    assert len(table) == 20_000
    assert not table.duplicated(["userId", "movieId"]).any()
    n_users, n_items = synthetic.default_shape(20_000)
    assert table["userId"].between(1, n_users).all()
    assert table["movieId"].between(1, n_items).all()


def test_synthetic_ratings_are_half_stars_from_half_to_five():
    r = synthetic.synthetic_ratings(5_000, seed=2)["rating"].to_numpy()
    assert r.min() >= 0.5 and r.max() <= 5.0
    np.testing.assert_array_equal(r * 2, np.round(r * 2))
    assert 3.0 < r.mean() < 4.0  # centred like MovieLens
    assert len(np.unique(r)) == 10  # the whole grid is used


def test_synthetic_ratings_are_deterministic_per_seed():
    a = synthetic.synthetic_ratings(3_000, seed=5)
    b = synthetic.synthetic_ratings(3_000, seed=5)
    c = synthetic.synthetic_ratings(3_000, seed=6)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_synthetic_popularity_is_skewed():
    table = synthetic.synthetic_ratings(50_000, 5_000, 2_000, seed=0)
    per_movie = table.groupby("movieId").size()
    per_user = table.groupby("userId").size()
    assert per_movie.max() > 10 * per_movie.median()  # a head of blockbusters...
    assert (per_movie <= 5).mean() > 0.1  # ...and a long tail of rarely rated movies
    assert per_user.max() > 10 * per_user.median()  # a few very active users


def test_synthetic_ratings_follow_the_hidden_structure():
    # users with a high hidden bias rate higher: user means spread more than noise alone allows
    table = synthetic.synthetic_ratings(50_000, seed=0)
    user_means = table.groupby("userId")["rating"].mean()
    assert user_means.std() > 0.25


def test_explicit_shape_and_its_limits():
    table = synthetic.synthetic_ratings(500, 20, 50, seed=0)
    assert len(table) == 500 and table["userId"].max() <= 20 and table["movieId"].max() <= 50
    with pytest.raises(ValueError, match="at most half of the 1,000 cells"):
        synthetic.synthetic_ratings(501, 20, 50)
    with pytest.raises(ValueError, match="n_ratings must be at least 1"):
        synthetic.synthetic_ratings(0)
    with pytest.raises(TypeError, match="n_ratings must be an integer"):
        synthetic.synthetic_ratings(1e5)


def test_default_shape_reaches_200k_users_by_50k_movies():
    assert synthetic.default_shape(25_000_000) == (200_000, 50_000)
    users, items = synthetic.default_shape(100_000)
    assert users * items > 10 * 100_000


def test_power_law_ranks_favour_the_head():
    rng = np.random.default_rng(0)
    ranks = synthetic.power_law_ranks(100, 1.5, 5.0, 50_000, rng)
    assert ranks.min() >= 0 and ranks.max() <= 99
    counts = np.bincount(ranks, minlength=100)
    assert counts[0] > 5 * counts[-1]
    with pytest.raises(ValueError, match="offset > 0"):
        synthetic.power_law_ranks(100, 1.0, 0.0, 10, rng)


def test_sorted_unique_matches_numpy():
    a = np.random.default_rng(0).integers(0, 50, 500)
    np.testing.assert_array_equal(synthetic.sorted_unique(a.copy()), np.unique(a))


def test_a_ranking_model_gets_a_ranking_row_and_no_rating_row(tmp_path, no_gc):
    # users 1 and 2 each rated movies in training; in the test user 1 likes 3 and user 2 likes 1
    train = pd.DataFrame(
        {"userId": [1, 1, 2, 3, 3], "movieId": [1, 2, 3, 1, 3], "rating": [4.0, 2.0, 5.0, 3.0, 4.0]}
    )
    test = pd.DataFrame({"userId": [1, 2], "movieId": [3, 1], "rating": [5.0, 4.5]})
    result = run.benchmark_model("most_popular", train, test, repeats=1)
    assert not result["predicts_stars"] and "rmse" not in result
    # most popular: movies 1 and 3 have 2 ratings each; user 1's candidate is 3 (a hit at rank 1),
    # user 2's candidates are 1 (2 ratings, a hit) then 2
    assert result["ndcg"] == pytest.approx(1.0) and result["hit_rate"] == pytest.approx(1.0)
    assert result["precision"] == pytest.approx(0.1)
    data = {"source": "tiny", "default": False, **inputs.describe(train, test)}
    markdown, _ = run.run_benchmark(
        ["most_popular", "global_mean"],
        train,
        test,
        data,
        repeats=1,
        out_dir=tmp_path,
        log=lambda _: None,
    )
    rating, ranking = markdown.split("## Ranking: top-10 lists")
    assert "most popular" not in rating and "| global mean | - |" in rating
    assert "| most popular | - | 1.0000 | 0.1000 | 1.0000 | 1.0000 |" in ranking
    assert "| global mean | - |" in ranking


def test_ranking_table_marks_failed_models():
    table = report.ranking_table([{"label": "EASE", "params_text": "-", "error": "MemoryError"}])
    assert (
        table.splitlines()[2]
        == "| EASE | - | failed | failed | failed | failed | failed | failed |"
    )
