"""What the tests share: the pytest fixtures (fixtures.py), seeds and study builders, local
receivers. Only tests import it; what bench needs as well lives in sync.testing."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
