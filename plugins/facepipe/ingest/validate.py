"""validate(day): the quality gate between staging and the tables.

Great Expectations 1.x runs in an ephemeral context over one row per staged
face with derived scalar columns (dimension, norm, finiteness, box inside the
image, face size, key, same-day image). A failure stops the run before load.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from facepipe.core.specs import ModelSpec


class ValidationFailed(RuntimeError):
    pass


def face_frame(rows: list[tuple], columns: list[str]):
    """One row per face, the vectors reduced to the scalars the suite checks."""
    import pandas as pd

    df = pd.DataFrame(rows, columns=columns)
    vectors = [np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v, np.float64) for v in df.pop("embedding")]
    df["dim"] = [v.shape[0] for v in vectors]
    df["finite"] = [bool(np.isfinite(v).all()) for v in vectors]
    df["norm"] = [float(np.linalg.norm(v)) if np.isfinite(v).all() else -1.0 for v in vectors]
    df["box_inside"] = (
        (df.box_x >= 0)
        & (df.box_y >= 0)
        & (df.box_w > 0)
        & (df.box_h > 0)
        & (df.box_x + df.box_w <= df.img_width)
        & (df.box_y + df.box_h <= df.img_height)
    )
    df["face_size"] = np.minimum(df.box_w, df.box_h)
    df["image_same_day"] = (df.image_day == df.day) & (df.image_status == "loaded")
    return df


def run_suite(df, model: ModelSpec, min_face: int) -> dict:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # nothing leaves the machine
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx
    import great_expectations.expectations as gxe

    context = gx.get_context(mode="ephemeral")
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:
        pass
    batch = (
        context.data_sources.add_pandas("staged")
        .add_dataframe_asset("faces")
        .add_batch_definition_whole_dataframe("day")
    )
    suite = context.suites.add(gx.ExpectationSuite(name="facepipe_faces"))
    for expectation in (
        gxe.ExpectColumnValuesToBeBetween(column="dim", min_value=model.dim, max_value=model.dim),
        gxe.ExpectColumnValuesToBeInSet(column="finite", value_set=[True]),
        gxe.ExpectColumnValuesToBeBetween(column="norm", min_value=model.norm_range[0], max_value=model.norm_range[1]),
        gxe.ExpectColumnValuesToBeInSet(column="box_inside", value_set=[True]),
        gxe.ExpectColumnValuesToBeBetween(column="face_size", min_value=min_face),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["image_id", "face_no"]),
        gxe.ExpectColumnValuesToBeInSet(column="image_same_day", value_set=[True]),
    ):
        suite.add_expectation(expectation)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="facepipe_faces_day", data=batch, suite=suite)
    )
    result = definition.run(batch_parameters={"dataframe": df})
    return result.describe_dict() if hasattr(result, "describe_dict") else result.to_json_dict()


def summarise(result: dict) -> tuple[bool, list[str]]:
    failed = []
    for r in result.get("expectations", result.get("results", [])):
        if not r.get("success", False):
            kind = r.get("expectation_type") or r.get("type") or "?"
            kwargs = r.get("kwargs", {})
            failed.append(f"{kind}({kwargs.get('column') or kwargs.get('column_list')})")
    return bool(result.get("success")), failed


def write_result(result: dict, folder: Path, day, run_id: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    safe_run = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    path = folder / f"{day}_{safe_run}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    return path
