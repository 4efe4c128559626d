VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: serve test lint typecheck install bench clean

# llama.cpp is compiled for this CPU. Its AMX kernels (Intel Xeon 4th generation and later)
# crash in llama_decode on the embedded model's first prompt of more than one token, so on
# x86-64 they are left out; AVX-512 and the rest stay. Override with LLAMA_CMAKE_ARGS=.
ifeq ($(shell uname -m),x86_64)
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_CMAKE_ARGS ?= -DCMAKE_C_FLAGS="$(NO_AMX)" -DCMAKE_CXX_FLAGS="$(NO_AMX)"
endif

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	CMAKE_ARGS='$(LLAMA_CMAKE_ARGS)' $(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(VENV)/bin/sheetstream serve --host 127.0.0.1 --port 8005

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests examples benchmarks
	$(VENV)/bin/ruff format --check src tests examples benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# The browser tests drive Debian's Chromium; install it once where it is missing.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=300 chromium \
	  || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=300 chromium)

# The fleet tests put a real load balancer in front of three nodes: Debian's HAProxy.
HAPROXY := /usr/sbin/haproxy
$(HAPROXY):
	DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=300 haproxy \
	  || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=300 haproxy)

test: $(STAMP) $(CHROMIUM) $(HAPROXY) lint typecheck
	$(VENV)/bin/pytest

bench: $(STAMP)
	$(VENV)/bin/sheetstream bench

clean:
	rm -rf $(VENV) build *.egg-info
