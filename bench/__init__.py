"""Operations tooling that measures the pipeline from outside: nothing in the pipeline's
packages imports it (an import-linter contract in pyproject.toml says so)."""
