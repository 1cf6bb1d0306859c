"""Messages around an upload: each attempt starts clean, so no old error stays beside a new result."""

from app_helpers import ROOT

GARBAGE = ("garbage.pt", b"\x00not a checkpoint" * 50, "application/octet-stream")


def shown(app) -> list[str]:
    return [e.value for e in app.error] + [s.value for s in app.success if s.value.startswith("Loaded")]


def test_an_old_error_goes_when_the_next_upload_loads(at):
    at.switch_page("pages/train.py").run()
    at.file_uploader(key="upload").set_value(GARBAGE).run()
    assert any(e.value.startswith("Could not load garbage") for e in at.error)
    data = (ROOT / "assets" / "default_model.pt").read_bytes()
    at.file_uploader(key="upload").set_value(("good.pt", data, "application/octet-stream")).run()
    (only,) = shown(at)
    assert only.startswith("Loaded good")


def test_an_upload_clears_a_refused_start_and_a_switch_message(at):
    at.switch_page("pages/train.py").run()
    at.session_state["train_message"] = "Batch size: 9,999,999 is out of range"
    at.session_state["earlier_message"] = ("error", "Stop or finish the training run before switching models.")
    at.run()
    assert any("out of range" in e.value for e in at.error)
    at.file_uploader(key="upload").set_value(GARBAGE).run()
    (only,) = shown(at)
    assert only.startswith("Could not load garbage"), "only the new upload's message"


def test_an_uploads_result_shows_under_the_uploader_and_as_a_toast(at):
    """The uploader sits below the charts: its message is also a toast, seen wherever the page is scrolled."""
    at.switch_page("pages/train.py").run()
    at.file_uploader(key="upload").set_value(GARBAGE).run()
    assert any(t.value.startswith("Could not load garbage") for t in at.toast)
    assert any(e.value.startswith("Could not load garbage") for e in at.error)
    data = (ROOT / "assets" / "default_model.pt").read_bytes()
    at.file_uploader(key="upload").set_value(("good.pt", data, "application/octet-stream")).run()
    assert [t.value for t in at.toast if t.value.startswith("Loaded good")]
    assert shown(at)[0].startswith("Loaded good")
    at.run()  # a toast is for the action: the next rerun does not repeat it, the message in place stays
    assert not at.toast and shown(at)[0].startswith("Loaded good")


def test_a_refused_start_shows_under_the_buttons_and_as_a_toast(at, monkeypatch):
    from diffusion.config import ConfigError
    from pages._app import training

    def refuse(*args, **kwargs):
        raise ConfigError("batch_size: too large for this server")

    at.switch_page("pages/train.py").run()
    monkeypatch.setattr(training, "TrainingJob", refuse)
    at.button(key="start").click().run()
    assert [t.value for t in at.toast if "too large for this server" in t.value]
    assert any("too large for this server" in e.value for e in at.error)


def test_markdown_in_an_uploaded_name_shows_as_typed_in_every_caption(at):
    """`**bold**_x_.pt` must not turn bold or italic where the model's name is shown."""
    from app_helpers import ROOT

    at.switch_page("pages/train.py").run()
    data = (ROOT / "assets" / "default_model.pt").read_bytes()
    at.file_uploader(key="upload").set_value(("**bold**_x_.pt", data, "application/octet-stream")).run()
    shown = [c.value for c in at.sidebar.caption if "uploaded model" in c.value]
    for page in ("pages/overview.py", "pages/reverse.py", "pages/bound.py"):
        at.switch_page(page).run()
        shown += [c.value for c in at.caption if "bold" in c.value]
    assert len(shown) >= 4, shown
    for text in shown:
        assert r"\*\*bold\*\*\_x\_.pt" in text, text  # Markdown's escapes: rendered as the typed name
