"""Read one YAML data file: a user's, or the package default in bundle/data/.

Every versioned data file (benchmarks, builds, compile, layouts, policy, reproduce) goes
through `load_yaml`, so a bad file always fails the same way: a ConfigError with a hint.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from bundle.errors import ConfigError


def load_yaml(path: Path | None, default_name: str) -> tuple[dict, str]:
    """Load a user file, or the package default `bundle/data/<default_name>`."""
    try:
        if path is None:
            text = resources.files("bundle.data").joinpath(default_name).read_text()
            where = f"bundle/data/{default_name}"
        else:
            text, where = Path(path).read_text(encoding="utf-8"), str(path)
        data = yaml.safe_load(text)
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start})", hint="pass a YAML text file") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a configuration", hint="pass a YAML configuration") from None
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}", hint="check the path, or drop the option to use the default") from None
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err}", hint="pass a readable YAML file") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path or default_name}: not valid YAML ({str(err)[:300]})", hint="fix the YAML syntax at the position given") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping at top level", hint="see the packaged defaults in bundle/data/")
    return data, where
