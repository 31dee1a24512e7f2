# StoreEdge — two commands for people, a few more for engineers.
#   make demo   set up what is missing, then run the daemon on its embedded demo store
#   make test   set up what is missing, then run every test (what .ci/run calls)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.storeedge-installed
PIP_FLAGS := --disable-pip-version-check --no-input -q

# Debian packages: zbar for pyzbar, headers and a compiler for evdev's C extension, a small CJK
# font so pages show Chinese rather than empty boxes, and Chromium for the browser tests (driven
# through Playwright; never `playwright install`, which downloads a browser).
SYS_PKGS := libzbar0 gcc python3-dev linux-libc-dev fonts-wqy-microhei chromium
SYS_CHECK := /usr/include/linux/input.h /usr/bin/gcc /usr/share/fonts/truetype/wqy/wqy-microhei.ttc \
	/usr/bin/chromium

# `make install` points the units at this checkout's .venv; clone into /opt/storeedge on an
# appliance. Packaging stages the files with DESTDIR=... PREFIX=/where/it/will/live.
PREFIX ?= $(CURDIR)
DESTDIR ?=
INSTALL_ARGS = $(if $(DESTDIR),--destdir $(DESTDIR))

.PHONY: demo test setup system lint audit bench install uninstall constraints clean distclean help
.DEFAULT_GOAL := help

help:
	@echo "make demo   - set up and run the daemon on the embedded demo store (Ctrl-C stops it)"
	@echo "make test   - set up and run the whole test suite"
	@echo "make lint   - ruff and mypy (strict)"
	@echo "make audit  - check every pinned dependency for known vulnerabilities (pip-audit)"
	@echo "make bench  - run the benchmarks"
	@echo "make install   - install the systemd units, udev rules, users and a config (root)"
	@echo "make uninstall - remove them again; the config, database and backups stay"

demo: setup
	$(VENV)/bin/storeedge demo

test: setup
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest $(PYTEST_ARGS)

setup: system $(STAMP)

# System packages need root: install them when we are root and they are missing, otherwise
# say exactly what to run and stop.
system:
	@missing=""; \
	for f in $(SYS_CHECK); do [ -e "$$f" ] || missing="yes"; done; \
	/sbin/ldconfig -p 2>/dev/null | grep -q 'libzbar\.so\.0' || missing="yes"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo ">> installing system packages: $(SYS_PKGS)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYS_PKGS) >/dev/null || exit 1; \
	  else \
	    echo "Missing system packages. Run as root:"; \
	    echo "  sudo apt-get install -y --no-install-recommends $(SYS_PKGS)"; \
	    exit 1; \
	  fi; \
	fi

# The venv is rebuilt only when what it was built from changes. face_recognition goes on top
# of dlib-bin with --no-deps: letting pip resolve it compiles dlib from source for minutes.
# setuptools<81 keeps pkg_resources, without which face_recognition calls exit(0) on import.
$(STAMP): setup.cfg constraints.txt pyproject.toml
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PIP) install $(PIP_FLAGS) -c constraints.txt --upgrade pip 'setuptools<81' wheel
	$(PIP) install $(PIP_FLAGS) -c constraints.txt dlib-bin Click
	$(PIP) install $(PIP_FLAGS) -c constraints.txt --no-deps face_recognition face_recognition_models
	$(PIP) install $(PIP_FLAGS) -c constraints.txt -e '.[test]'
	@touch $@

lint: setup
	$(PY) -m ruff check .
	$(PY) -m mypy

# pip-audit lives in a venv of its own so its dependencies never reach the appliance's.
AUDIT_VENV := .venv-audit
audit: setup
	@[ -x $(AUDIT_VENV)/bin/pip-audit ] || { $(PYTHON) -m venv $(AUDIT_VENV) && \
	  $(AUDIT_VENV)/bin/pip install $(PIP_FLAGS) -c .ci/audit-constraints.txt pip-audit; }
	$(PY) .ci/audit.py $(AUDIT_VENV)/bin/pip-audit constraints.txt $(if $(AUDIT_STRICT),--strict)

bench: setup
	$(PY) -m benchmarks.sale_commit
	$(PY) -m benchmarks.console_load
	$(PY) -m benchmarks.hid_decode
	$(PY) -m benchmarks.camera_decode
	$(PY) -m benchmarks.scan_to_screen

install: setup
	$(VENV)/bin/storeedge install-systemd --prefix $(PREFIX) $(INSTALL_ARGS)

uninstall: setup
	$(VENV)/bin/storeedge install-systemd --uninstall $(INSTALL_ARGS)

# Re-pin after changing setup.cfg's ranges: resolve fresh in a scratch venv, then freeze.
constraints:
	rm -rf .venv-pin && $(PYTHON) -m venv .venv-pin
	.venv-pin/bin/pip install $(PIP_FLAGS) --upgrade pip 'setuptools<81' wheel
	.venv-pin/bin/pip install $(PIP_FLAGS) dlib-bin Click
	.venv-pin/bin/pip install $(PIP_FLAGS) --no-deps face_recognition face_recognition_models
	.venv-pin/bin/pip install $(PIP_FLAGS) -e '.[test]'
	{ echo "# Exact versions every appliance installs (make reads this with pip -c)."; \
	  echo "# Refresh on purpose: make constraints, run the suite, commit the diff."; \
	  .venv-pin/bin/pip freeze --all --exclude-editable | grep -v '^storeedge'; } > constraints.txt
	rm -rf .venv-pin

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache build *.egg-info

distclean: clean
	rm -rf $(VENV) $(AUDIT_VENV)
