"""The compose stack is validated against the Compose Specification without a Docker engine, and holds the
production properties the deployment promises (profiles, health checks, limits, capabilities, no network for
the sandbox, settings from the env file)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

DOCKER = Path(__file__).resolve().parents[2] / "docker"
COMPOSE = DOCKER / "docker-compose.yml"
ENV_EXAMPLE = DOCKER / ".env.example"
DOCKERFILE = DOCKER / "Dockerfile"

# What the sandbox's confinement needs (switching uids, namespaces and mounts, killing its slots, chowning its
# socket); anything beyond this widens the container for no reason.
SANDBOX_ALLOWED_CAPS = {"SETUID", "SETGID", "KILL", "SYS_ADMIN", "CHOWN"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def test_compose_file_validates_against_the_compose_spec() -> None:
    checker = Path(sys.executable).with_name("check-jsonschema")
    done = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_broken_compose_file_is_rejected(tmp_path: Path) -> None:
    """The validator is not a rubber stamp: an unknown key under a service fails it."""
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["sandbox"]["network_mod"] = "none"
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    checker = Path(sys.executable).with_name("check-jsonschema")
    done = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0


def test_services_and_profiles(services: dict) -> None:
    assert {"api", "sandbox", "vllm", "llama"} <= set(services)
    assert "profiles" not in services["api"] and "profiles" not in services["sandbox"]
    assert services["vllm"]["profiles"] == ["gpu"]
    assert services["llama"]["profiles"] == ["cpu"]


def test_every_service_has_a_healthcheck(services: dict) -> None:
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"


def test_api_waits_for_sandbox_and_whichever_model_server_runs(services: dict) -> None:
    depends = services["api"]["depends_on"]
    for name in ("sandbox", "vllm", "llama"):
        assert depends[name]["condition"] == "service_healthy"
    # Only one model server runs per profile, so neither is required on its own.
    assert depends["vllm"]["required"] is False and depends["llama"]["required"] is False


def test_sandbox_is_locked_down(services: dict) -> None:
    sandbox = services["sandbox"]
    assert sandbox["network_mode"] == "none"
    assert sandbox["read_only"] is True
    assert any(t.startswith("/tmp") for t in sandbox["tmpfs"])
    assert sandbox["cap_drop"] == ["ALL"]
    assert set(sandbox["cap_add"]) <= SANDBOX_ALLOWED_CAPS
    for limit in ("pids_limit", "mem_limit", "cpus"):
        assert limit in sandbox, f"sandbox has no {limit}"
    # No secrets and no model credentials reach the sandbox.
    assert "env_file" not in sandbox
    assert not sandbox.get("environment")
    assert "secrets" not in sandbox
    assert sandbox["command"][:4] == ["python", "-m", "sandbox", "serve"]


def test_api_and_sandbox_share_only_the_socket_volume(services: dict) -> None:
    api_volumes = {v.split(":")[0]: v.split(":")[1] for v in services["api"]["volumes"]}
    sandbox_volumes = {v.split(":")[0]: v.split(":")[1] for v in services["sandbox"]["volumes"]}
    assert set(sandbox_volumes) == {"sandbox-socket"}
    assert api_volumes["sandbox-socket"] == sandbox_volumes["sandbox-socket"]
    socket = services["api"]["environment"]["TIRSOLVE_SANDBOX_SOCKET"]
    assert socket.startswith(sandbox_volumes["sandbox-socket"] + "/")
    assert socket in services["sandbox"]["command"]


def test_api_runs_unprivileged(services: dict) -> None:
    api = services["api"]
    assert api["cap_drop"] == ["ALL"]
    assert "user" not in api, "the api must run as the image's non-root user"
    assert "no-new-privileges:true" in api["security_opt"]
    assert api["command"][:2] == ["tirsolve", "serve"]
    text = DOCKERFILE.read_text()
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert users and users[-1] not in {"root", "0"}
    assert re.search(r"^HEALTHCHECK ", text, flags=re.M)


def test_vllm_serves_qwen_math_on_a_gpu(services: dict) -> None:
    vllm = services["vllm"]
    args = " ".join(vllm["command"])
    assert "Qwen/Qwen2.5-Math-7B-Instruct" in args
    assert "--max-model-len=4096" in args
    assert "--served-model-name=" in args
    assert vllm["ipc"] == "host"
    devices = vllm["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert any("/root/.cache/huggingface" in v for v in vllm["volumes"])
    assert "HF_TOKEN" in vllm["environment"]
    check = vllm["healthcheck"]
    assert "/health" in " ".join(check["test"])
    assert _seconds(check["start_period"]) >= 600, "a 7B model needs minutes to load"


def test_llama_serves_a_qwen_math_gguf(services: dict) -> None:
    llama = services["llama"]
    env = llama["environment"]
    assert "qwen2.5-math-1.5b" in env["LLAMA_ARG_MODEL"].lower()
    assert env["LLAMA_ARG_CTX_SIZE"] == "4096"
    assert "/health" in " ".join(llama["healthcheck"]["test"])


def test_every_variable_the_stack_reads_is_in_the_env_example() -> None:
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text()))
    documented = set(re.findall(r"^([A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), flags=re.M))
    assert used - documented == set()


def _seconds(value: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smh])", value))
