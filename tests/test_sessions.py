"""Sessions are opened only for requests with a session cookie, and still work."""

from flask import request, session

from mapper import create_app
from mapper.web.sessions import CookieSessions


def test_a_session_written_without_a_cookie_is_read_back(database_url):
    app = create_app({"DATABASE_URL": database_url, "TILES_URL": "", "SECRET_KEY": "test"})
    assert isinstance(app.session_interface, CookieSessions)

    @app.get("/_session_probe/<value>")
    def probe(value):
        seen = session.get("v", "none")
        session["v"] = value
        return seen

    with app.test_request_context("/"):
        assert dict(app.session_interface.open_session(app, request)) == {}
    client = app.test_client()
    assert client.get("/_session_probe/one").get_data(as_text=True) == "none"
    assert client.get("/_session_probe/two").get_data(as_text=True) == "one"  # set by the first, read back
    client.delete_cookie("session")
    assert client.get("/_session_probe/three").get_data(as_text=True) == "none"
    app.extensions["mapper.engine"].dispose()
