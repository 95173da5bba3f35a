"""Typed configuration: schema sections (`schema` and one module per stage), YAML loading with line
marks and dotted overrides (`loader`), and `base.STAGES`, the registry of every stage's config class."""
