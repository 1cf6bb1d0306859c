"""AppTest: what one session does never costs it (or the server) its work: a worse run does not
replace a better model, bad URLs never raise, messages say what happened."""

from app_helpers import start_tiny_run, wait_for_job

from pages._app.models import SHIPPED_ID


def no_exceptions(app) -> None:
    assert not app.exception, [e.value for e in app.exception]


def test_a_diverging_run_keeps_the_shipped_model_current(at):
    start_tiny_run(at, lr=100.0)
    status = wait_for_job(at)
    no_exceptions(at)
    assert status.diverged
    assert at.session_state["model"].id == SHIPPED_ID
    warnings = [w.value for w in at.warning]
    assert any("is worse than the current one" in w and "which stays" in w and "download it" in w for w in warnings), (
        warnings
    )
    assert at.button(key="use_rejected")  # and the run's weights are on offer
    rejected = at.session_state["_job_holder"].rejected
    assert rejected is not None and rejected.id.key == at.session_state["_job_holder"].uid
    assert any(m.id == rejected.id for m in at.session_state["earlier_models"])
    at.button(key="use_rejected").click().run()
    no_exceptions(at)
    assert at.session_state["model"].id == rejected.id


def test_a_slow_run_reads_less_than_one_iteration_per_second():
    from pages._app.training import rate_text

    assert rate_text(0.3) == "< 1 it/s"
    assert rate_text(0.0) == "— it/s"
    assert rate_text(1234.4) == "1,234 it/s"


def test_markdown_in_an_uploaded_file_name_shows_as_typed():
    from pages._app.switching import safe_name

    assert safe_name("**bold** <b>x</b> [l](u)_.pt") == r"\*\*bold\*\* \<b\>x\</b\> \[l\]\(u\)\_\.pt"


def test_a_queued_run_reads_queued_in_the_sidebar(at, monkeypatch):
    from diffusion.jobs import JobState
    from pages._app import training

    real = training.JobHolder.status

    def queued(self):
        s = real(self)
        return None if s is None else s.__class__(**{**s.__dict__, "state": JobState.QUEUED, "queue_position": 2})

    job = start_tiny_run(at, steps=20000)
    monkeypatch.setattr(training.JobHolder, "status", queued)
    at.run()
    no_exceptions(at)
    from app_helpers import status_text

    assert "queued" in status_text(at) and "training" not in status_text(at), status_text(at)
    monkeypatch.undo()
    job.stop(wait=True)
