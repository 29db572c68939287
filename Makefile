# mmlgnet-qgis — one entry point for setup, tests, demo, benchmarks and packaging.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= $(if $(MMLGNET_DATA),$(MMLGNET_DATA),../shared/data)
APT_PACKAGES := python3-qgis qgis-providers python3-gdal gdal-bin python3-pyqt5 python3-venv
APT_EXTRA := qgis   # provides qgis_process (no recommends: no desktop extras needed)
export QT_QPA_PLATFORM ?= offscreen

.PHONY: setup apt venv test demo bench-accuracy bench-inference package clean

setup: apt $(VENV)/.installed

# Installs the Debian packages QGIS needs; skipped when they are all present.
apt:
	@if dpkg -s $(APT_PACKAGES) $(APT_EXTRA) >/dev/null 2>&1; then echo "apt: QGIS packages present"; \
	else SUDO=$$( [ $$(id -u) = 0 ] || echo sudo ); \
	  $$SUDO apt-get update && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y $(APT_PACKAGES) && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y --no-install-recommends $(APT_EXTRA); fi

# The venv sees QGIS's system bindings (--system-site-packages). PIP_FIND_LINKS is disabled so
# pip takes torch and torchvision from the same registry build (a CPU-only local wheel
# beside PyPI's torchvision breaks `import torchvision`, hence `import open_clip`).
$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || /usr/bin/python3 -m venv --system-site-packages $(VENV)
	PIP_FIND_LINKS=/nonexistent $(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

test: setup
	$(PY) -m pytest -q tests

demo: setup
	$(PY) -m mmlgnet_qgis demo --data $(DATA) --out demo-out

bench-accuracy: setup
	$(PY) benchmarks/bench_accuracy.py --data $(DATA) --out benchmarks/results/accuracy.md

bench-inference: setup
	$(PY) benchmarks/bench_inference.py --out benchmarks/results/inference.md

package:
	$(PY) scripts/package.py --out dist

clean:
	rm -rf demo-out dist .pytest_cache
