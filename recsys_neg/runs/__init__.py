"""Running a pipeline, split by job: runtime settings, the run folder, assembling the parts,
and saved runs (re-evaluation, resume). ``recsys_neg.pipeline`` orchestrates them."""
