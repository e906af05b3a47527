"""oroflask.microsoft is a leaf: it knows Microsoft's protocol, and nothing of oroflask's
models, features or pages. Its imports are read from the source, so that an import added
inside a function counts too."""

import ast
from pathlib import Path

import oroflask.microsoft

PACKAGE = "oroflask.microsoft"
ROOT = Path(oroflask.microsoft.__file__).parent
# What renders pages or reaches the database, whoever's it is.
FORBIDDEN = ("flask.templating", "jinja2", "markupsafe", "sqlalchemy", "flask_sqlalchemy", "flask_login", "flask_wtf")
FORBIDDEN_NAMES = {"render_template", "render_template_string"}


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """Return each import of a module as (absolute module, names taken from it)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # Every module of the package sits directly in it: one dot is the package itself.
                base = PACKAGE.rsplit(".", node.level - 1)[0] if node.level > 1 else PACKAGE
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module
            found.append((name, [alias.name for alias in node.names]))
    return found


def modules() -> list[Path]:
    return sorted(ROOT.glob("*.py"))


def test_the_package_has_modules_to_check():
    assert {path.stem for path in modules()} >= {"__init__", "errors", "identity", "identifiers"}


def test_microsoft_imports_nothing_of_oroflask_outside_itself():
    outside = [
        f"{path.name}: {name}"
        for path in modules()
        for name, _ in imports(path)
        if (name == "oroflask" or name.startswith("oroflask.")) and not (name == PACKAGE or name.startswith(PACKAGE + "."))
    ]
    assert outside == []


def test_microsoft_renders_no_page_and_reaches_no_database():
    reached = [
        f"{path.name}: {name} {names}"
        for path in modules()
        for name, names in imports(path)
        if name.startswith(FORBIDDEN) or FORBIDDEN_NAMES & set(names)
    ]
    assert reached == []


def test_the_walk_sees_a_relative_import_that_reaches_out(tmp_path):
    module = tmp_path / "sneaky.py"
    module.write_text("def later():\n    from ..connection.models import MicrosoftGrant\n    from . import errors\n")
    assert imports(module) == [("oroflask.connection.models", ["MicrosoftGrant"]), (PACKAGE, ["errors"])]
