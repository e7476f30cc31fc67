"""Example unlearnbench plugin: the ``head_reinit`` method and the ``feature_norm_ratio`` metric.

Nothing is imported here: unlearnbench imports the modules its entry points name (pyproject.toml) when its
registries load, and each module registers its component with the usual decorator.
"""
