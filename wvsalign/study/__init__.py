"""Studies: many models x conditions as run directories under one study directory.

>>> import wvsalign as wa
>>> study = wa.run_study("data/studies/demo.yaml", out="studies/demo")   # resumable
>>> study = wa.Study.load("studies/demo")
>>> study.alignment; study.compare_models(); print(study.regression().summary())
"""
from __future__ import annotations

from .results import Study, StudyRegression
from .running import STUDY_FILE, run_study
from .spec import StudyCondition, StudyModel, StudySpec, run_dir

__all__ = ["Study", "StudyRegression", "StudySpec", "StudyModel", "StudyCondition", "run_study", "run_dir",
           "STUDY_FILE"]
