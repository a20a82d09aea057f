"""Run inside every sandbox kernel at start (sandbox.py executes this file's text in a private namespace): what
E2B's code-interpreter image adds to IPython, so results carry the same extra formats.

- `result.data`: a pandas DataFrame is also sent as "e2b/data", its columns as lists.
- `result.chart`: a matplotlib Figure is also sent as "e2b/chart", the chart's data extracted by E2B's own
  `e2b_charts` package (line, scatter, bar, pie, box-and-whisker, superchart, unknown).
- images: a PIL image `show()`n or `save()`d to a path is displayed (PNG), since there is no screen.

Nothing is imported eagerly: pandas and matplotlib are only looked at once the user's code imported them, and PIL
is patched when it is first imported, so an idle kernel pays nothing.
"""

import importlib.abc
import importlib.machinery
import os
import sys

from IPython import get_ipython
from IPython.core.formatters import BaseFormatter
from traitlets import ObjectName, Unicode


class DataFrameColumns(BaseFormatter):
    format_type = Unicode("e2b/data")
    print_method = ObjectName("_repr_e2b_data_")
    _return_type = (dict,)

    def __call__(self, obj):
        pandas = sys.modules.get("pandas")
        if pandas is None or not isinstance(obj, pandas.DataFrame):
            return super().__call__(obj)
        columns = obj.to_dict(orient="list")
        return {str(name): [v.isoformat() if isinstance(v, pandas.Timestamp) else v for v in values]
                for name, values in columns.items()}


class FigureChart(BaseFormatter):
    format_type = Unicode("e2b/chart")
    print_method = ObjectName("_repr_e2b_chart_")
    _return_type = (dict,)

    def __call__(self, obj):
        figure_module = sys.modules.get("matplotlib.figure")
        if figure_module is None or not isinstance(obj, figure_module.Figure):
            return super().__call__(obj)
        try:
            from e2b_charts import chart_figure_to_dict
        except ImportError:
            return None
        try:
            return chart_figure_to_dict(obj)
        except Exception:  # a figure the extractor does not understand still shows as a PNG
            return None


def _patch_pil_image(image_module) -> None:
    from IPython.display import display
    from PIL import ImageShow

    class NotebookViewer(ImageShow.Viewer):
        def show(self, image, **options):
            display(image)
            return 1

    ImageShow.register(NotebookViewer(), 0)
    original_save = image_module.Image.save

    def save(self, fp, format=None, **params):
        if isinstance(fp, (str, os.PathLike)):
            display(self)
        return original_save(self, fp, format, **params)

    image_module.Image.save = save


class _PatchPilOnImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself; when PIL.Image is first imported, wraps its loader so the patch runs right after."""

    def find_spec(self, name, path=None, target=None):
        if name != "PIL.Image":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        run_module = loader.exec_module

        def exec_module(module):
            run_module(module)
            try:
                _patch_pil_image(module)
            except Exception:
                pass

        loader.exec_module = exec_module
        return spec


def install(shell) -> None:
    shell.display_formatter.formatters["e2b/data"] = DataFrameColumns(parent=shell.display_formatter)
    shell.display_formatter.formatters["e2b/chart"] = FigureChart(parent=shell.display_formatter)
    if "PIL.Image" in sys.modules:
        _patch_pil_image(sys.modules["PIL.Image"])
    else:
        sys.meta_path.insert(0, _PatchPilOnImport())


if get_ipython() is not None:  # in a kernel; imported anywhere else, this file does nothing
    install(get_ipython())
