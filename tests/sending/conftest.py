from tests.mailservers.conftest import token_for  # noqa: F401
