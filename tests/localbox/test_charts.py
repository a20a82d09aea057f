"""Chart and data extraction in `run_code` results through the unmodified SDK, as E2B's code interpreter gives
them: `result.chart` from matplotlib figures (line, scatter, bar, pie, box-and-whisker, superchart, unknown),
`result.data` from pandas DataFrames, and images from PIL (`show()`, `save()`, last expression)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from e2b_code_interpreter import Sandbox
from e2b_code_interpreter.charts import (
    BarChart,
    BoxAndWhiskerChart,
    ChartType,
    LineChart,
    PieChart,
    ScatterChart,
    SuperChart,
)

from tests.support.localbox_fixtures import async_sandbox_for, sandbox_for


@pytest.fixture(scope="module")
def sandbox(localbox) -> Iterator[Sandbox]:
    yield from sandbox_for(localbox, timeout=600)


def only_chart(sandbox, code: str):
    execution = sandbox.run_code("import matplotlib.pyplot as plt\n" + code + "\nplt.show()")
    assert execution.error is None, execution.error
    charts = [r.chart for r in execution.results if r.chart]
    assert len(charts) == 1, execution.results
    assert any(r.png for r in execution.results), "the figure is still sent as an image"
    return charts[0]


def test_line_chart(sandbox) -> None:
    chart = only_chart(sandbox, (
        "plt.plot([1, 2, 3], [10, 20, 15], label='first')\nplt.plot([1, 2, 3], [5, 6, 7], label='second')\n"
        "plt.title('Growth')\nplt.xlabel('Day')\nplt.ylabel('Height (cm)')"))
    assert isinstance(chart, LineChart) and chart.type == ChartType.LINE
    assert (chart.title, chart.x_label, chart.y_label, chart.y_unit) == ("Growth", "Day", "Height (cm)", "cm")
    assert [e.label for e in chart.elements] == ["first", "second"]
    assert [tuple(p) for p in chart.elements[0].points] == [(1, 10), (2, 20), (3, 15)]


def test_scatter_chart(sandbox) -> None:
    chart = only_chart(sandbox, "plt.scatter([1, 2, 3], [4, 5, 6], label='dots')\nplt.title('Spread')")
    assert isinstance(chart, ScatterChart) and chart.title == "Spread"
    assert [tuple(p) for p in chart.elements[0].points] == [(1, 4), (2, 5), (3, 6)]


def test_bar_chart(sandbox) -> None:
    chart = only_chart(sandbox, "plt.bar(['a', 'b', 'c'], [3, 1, 2])\nplt.title('Counts')")
    assert isinstance(chart, BarChart) and chart.type == ChartType.BAR
    assert [(e.label, e.value) for e in chart.elements] == [("a", 3), ("b", 1), ("c", 2)]


def test_pie_chart(sandbox) -> None:
    chart = only_chart(sandbox, "plt.pie([30, 70], labels=['yes', 'no'])\nplt.title('Votes')")
    assert isinstance(chart, PieChart) and chart.title == "Votes"
    assert [(e.label, e.angle) for e in chart.elements] == [("yes", 108), ("no", 252)]


def test_box_and_whisker_chart(sandbox) -> None:
    chart = only_chart(sandbox, (
        "fig, ax = plt.subplots()\n"
        "ax.boxplot([[10, 12, 13, 14, 15], [20, 24, 26, 28, 29, 60]], tick_labels=['low', 'high'], patch_artist=True)\n"
        "ax.set_title('Spread')"))
    assert isinstance(chart, BoxAndWhiskerChart) and chart.title == "Spread"
    assert [(e.label, e.median, e.min, e.max, e.outliers) for e in chart.elements] == [
        ("low", 13, 10, 15, []), ("high", 27, 20, 29, [60])]


def test_a_figure_the_extractor_cannot_read_is_still_an_image(sandbox) -> None:
    """e2b_charts fails on a box plot whose whisker has no length: the run still succeeds, with a PNG only."""
    execution = sandbox.run_code(
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\n"
        "ax.boxplot([[2, 4, 6, 8, 30]], patch_artist=True)\nplt.show()")
    assert execution.error is None
    assert [bool(r.png) for r in execution.results] == [True]
    assert execution.results[0].chart is None


def test_superchart_of_subplots(sandbox) -> None:
    chart = only_chart(sandbox, (
        "fig, (left, right) = plt.subplots(1, 2)\nleft.plot([1, 2], [3, 4])\nleft.set_title('L')\n"
        "right.bar(['x'], [1])\nright.set_title('R')\nfig.suptitle('Both')"))
    assert isinstance(chart, SuperChart) and chart.title == "Both"
    assert [(c.type, c.title) for c in chart.elements] == [(ChartType.LINE, "L"), (ChartType.BAR, "R")]


def test_unknown_chart(sandbox) -> None:
    chart = only_chart(sandbox, (
        "fig, ax = plt.subplots()\nax.add_artist(plt.Circle((0, 0), 1, fill=False))\nplt.title('Circle')"))
    assert chart.type == ChartType.UNKNOWN and chart.title == "Circle"
    assert chart.elements == []


def test_dataframe_data(sandbox) -> None:
    execution = sandbox.run_code(
        "import pandas as pd\npd.DataFrame({'n': [1, 2, 3], 'when': pd.to_datetime(['2024-01-01'] * 3)})")
    result = execution.results[0]
    assert result.data == {"n": [1, 2, 3], "when": ["2024-01-01T00:00:00"] * 3}
    assert "data" in result.formats() and result.html  # the table is still there too
    assert sandbox.run_code("[1, 2]").results[0].data is None  # only DataFrames


def test_pil_images_shown_saved_and_returned(sandbox) -> None:
    make = "from PIL import Image\nimage = Image.new('RGB', (8, 8), 'red')\n"
    assert sandbox.run_code(make + "image.show()").results[0].png
    saved = sandbox.run_code(make + "image.save('/home/user/red.png')")
    assert saved.results[0].png
    assert sandbox.files.exists("/home/user/red.png")
    assert sandbox.run_code(make + "image").results[0].png


def test_setup_leaves_the_user_namespace_alone(sandbox) -> None:
    names = sandbox.run_code("sorted(n for n in globals() if not n.startswith('_'))").text
    for helper in ("DataFrameColumns", "FigureChart", "shell", "sys", "os"):
        assert f"'{helper}'" not in names


def test_async_chart_and_data(localbox) -> None:
    async def scenario() -> None:
        async with async_sandbox_for(localbox) as sbx:
            execution = await sbx.run_code(
                "import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0])\nplt.title('Down')\nplt.show()")
            assert [r.chart.title for r in execution.results if r.chart] == ["Down"]
            frame = await sbx.run_code("import pandas as pd\npd.DataFrame({'v': [0.5]})")
            assert frame.results[0].data == {"v": [0.5]}

    asyncio.run(scenario())
