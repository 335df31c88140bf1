"""Project tooling that is not shipped: the documentation generators."""
