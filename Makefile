# sccnb -- set-up, tests, and one file target per paper table and figure.
#
#   make setup                 create .venv, install the pinned requirements and the package
#   make test                  the test suite (runs every notebook at smoke size)
#   make reproduce-tables      every table and figure into results/$(PROFILE)/
#   make table1 ... table8, make figures, make tour
#   make real300w              the real-face Tables 3, 5-8, Fig. 7, the power plan and the verdict
#                              figure, rendered from the stored runs (trains nothing)
#   make real300w-runs         train the real-face evidence that is missing (hours on a CPU)
#   make predict-samples       the shipped model on the real photos of ../shared/data/samples
#   make resolution            what the study can detect: seed noise, image noise, MDE vs seeds
#   make eval-heldout, make detector-rate  the shipped model on its held-out faces (eval --data,
#                              protocol and detector boxes); the face detector's rate on 300w_mini
#   make clean-runs            forget the profile's stored runs (retrain on the next make)
#   make lab                   JupyterLab with the package importable
#   make bench                 benchmarks into results/bench/
#   make device-check          a GPU session's ten-minute check: CUDA tests, GPU benchmarks,
#                              real faces at 256² (smoke size on a CPU; docs/device-check.md)
#
# Variables: PROFILE (smoke | cpu | gpu | paper; default gpu when CUDA is available, else cpu),
# DATA_ROOT (default: SynthFace generated into .cache/ on first use; for `make real300w`, the
# 300w_mini folder, default ../shared/data/300w_mini), SEEDS (comma-separated;
# default 0,1,2 on gpu/paper, else 0), WORKERS (parallel training processes; 0 = the profile's
# default: 2 one-thread runs on cpu, one run per GPU on gpu/paper), REMEASURE=1 (Table 4 times
# the models again although this device already has a measurement with the same code).
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.SUFFIXES:
MAKEFLAGS += --warn-undefined-variables --no-builtin-rules

VENV ?= .venv
PY := $(VENV)/bin/python

# The profile is looked up only when a results target is asked for (it imports torch).
NO_PROFILE_GOALS := setup test lab bench device-check help clean-smoke clean-cache predict-samples \
	eval-heldout detector-rate
ifeq ($(origin PROFILE), undefined)
ifneq ($(filter-out $(NO_PROFILE_GOALS),$(or $(MAKECMDGOALS),help)),)
PROFILE := $(shell $(PY) -c 'import torch; print("gpu" if torch.cuda.is_available() else "cpu")' 2>/dev/null || echo cpu)
else
PROFILE := cpu
endif
endif
DATA_ROOT ?=
comma := ,
# three seeds where a run is cheap enough to afford them (GPU profiles), else one
SEEDS ?= $(if $(filter gpu paper,$(PROFILE)),0$(comma)1$(comma)2,0)
WORKERS ?= 0
REMEASURE ?=

RESULTS ?= results/$(PROFILE)
TABLES := $(RESULTS)/tables
FIGURES := $(RESULTS)/figures
EXECUTED := $(RESULTS)/notebooks
SRC := $(shell find sccnb -name '*.py' -o -name '*.npz' 2>/dev/null)
# Paths stay as given (relative ones are relative to the repository, where the notebooks resolve
# them), so executed notebooks carry no machine's absolute paths; interactive False: text
# progress bars and static figures, since no browser is attached.
STUDY_PARAMS := -p profile $(PROFILE) -p data_root '$(DATA_ROOT)' -y 'seeds: [$(SEEDS)]' \
	-p workers $(WORKERS) -p out_dir $(RESULTS) -p interactive False
# papermill writes the executed copy next to the results; a failing cell fails make. STABLE
# then takes out its times, timestamps and text progress bars
# (sccnb.study.notebook.stable_notebook), and the target is touched (its writer leaves a file
# whose content did not change as it was): a re-render with nothing new leaves `git status`
# clean.
PAPERMILL = $(PY) -m papermill --cwd notebooks -k python3 --no-progress-bar --log-output
STABLE = $(PY) -m sccnb stable-notebook

.PHONY: help setup test lab bench reproduce-tables runs table1 table2 table3 table4 table5 \
	table6 table7 table8 figures fig1 fig6 tour real300w real300w-runs resolution \
	predict-samples eval-heldout detector-rate clean-smoke clean-runs clean-cache

help:
	@awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' Makefile

## set-up and tests --------------------------------------------------------------------------
setup:
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps -e .

# two pytest-xdist workers, each test module on one (its trained fixtures are built once).
# (--dist loadgroup would balance better, but xdist 3.8 cannot set its group on pytest 9's nodes)
TEST_WORKERS ?= 2
test:
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

lab:
	$(PY) -m jupyter lab --notebook-dir=notebooks

bench:
	$(PY) -m sccnb bench --out results/bench

# The device check (sccnb/perf/device_check.py): on a GPU the tests marked cuda, the GPU
# benchmarks into results/bench/gpu/ and the real300w profile at 256² (its 300 epochs reduced to
# DEVICE_EPOCHS) into results/real300w/, in about ten minutes; on a CPU the same steps at smoke
# size into results/smoke/. DEVICE_DATA: 300w_mini (the git-ignored copy .data/300w_mini when
# present, as on the device machine); DEVICE_SIZE: auto | full | smoke; DEVICE_RESULTS: where
# it writes (default: as above); DEVICE_ARCHIVE: also one .tar.gz of it all, checkpoints left
# out (a device machine returns few files). There, its own Python: make device-check PY=python3
DEVICE_DATA ?= $(if $(wildcard .data/300w_mini),.data/300w_mini,../shared/data/300w_mini)
DEVICE_SIZE ?= auto
DEVICE_RESULTS ?=
DEVICE_EPOCHS ?= 20
DEVICE_ARCHIVE ?=
.PHONY: device-check
device-check:
	$(PY) -m sccnb device-check --size $(DEVICE_SIZE) --data-root '$(DEVICE_DATA)' \
		--epochs $(DEVICE_EPOCHS) --results '$(DEVICE_RESULTS)' --archive '$(DEVICE_ARCHIVE)'

## results ------------------------------------------------------------------------------------
$(TABLES) $(FIGURES) $(EXECUTED):
	mkdir -p $@

# Train (or load) every run the tables need, in parallel where the profile allows; the
# notebooks then only load them. A stamp records that this step finished.
$(RESULTS)/.runs: $(SRC) | $(EXECUTED)
	$(PY) -m sccnb runs --profile $(PROFILE) --data-root '$(DATA_ROOT)' --seeds '$(SEEDS)' \
		--workers $(WORKERS)
	touch $@
runs: $(RESULTS)/.runs

# $(call notebook,target,notebook,extra papermill args)
define notebook
$(1): notebooks/$(2) $(SRC) $(RESULTS)/.runs | $(EXECUTED) $(TABLES) $(FIGURES)
	$$(PAPERMILL) $$< $(EXECUTED)/$(2) $(STUDY_PARAMS) $(3)
	$$(STABLE) $(EXECUTED)/$(2)
	touch $$@
endef

$(eval $(call notebook,$(TABLES)/table1.csv,table1_wflw.ipynb,))
$(eval $(call notebook,$(TABLES)/table2.csv,table2_cofw.ipynb,))
$(eval $(call notebook,$(TABLES)/table3.csv,table3_300w.ipynb,))
$(eval $(call notebook,$(TABLES)/table5.csv,table5_components.ipynb,))
$(eval $(call notebook,$(TABLES)/table6.csv,table6_attention_features.ipynb,))
$(eval $(call notebook,$(TABLES)/table7.csv,table7_topk.ipynb,))
$(eval $(call notebook,$(TABLES)/table8.csv,table8_loss.ipynb,))
$(eval $(call notebook,$(TABLES)/fig1_occlusion.csv,fig1_occlusion.ipynb,))
$(eval $(call notebook,$(FIGURES)/fig6_attention.png,fig6_attention.ipynb,))
$(eval $(call notebook,$(EXECUTED)/00_tour.ipynb,00_tour.ipynb,))

# Table 4 trains nothing: it measures the paper-sized models on this machine.
$(TABLES)/table4.csv: notebooks/table4_efficiency.ipynb $(SRC) | $(EXECUTED) $(TABLES)
	$(PAPERMILL) $< $(EXECUTED)/table4_efficiency.ipynb -p profile $(PROFILE) \
		-p out_dir $(RESULTS) $(if $(filter smoke,$(PROFILE)),-p input_size 64 -p repeats 2,) \
		-p remeasure $(if $(REMEASURE),True,False)
	$(STABLE) $(EXECUTED)/table4_efficiency.ipynb
	touch $@

table1: $(TABLES)/table1.csv
table2: $(TABLES)/table2.csv
table3: $(TABLES)/table3.csv
table4: $(TABLES)/table4.csv
table5: $(TABLES)/table5.csv
table6: $(TABLES)/table6.csv
table7: $(TABLES)/table7.csv
table8: $(TABLES)/table8.csv
fig1: $(TABLES)/fig1_occlusion.csv
fig6: $(FIGURES)/fig6_attention.png
figures: fig1 fig6
tour: $(EXECUTED)/00_tour.ipynb

# The main job. On the CPU profile, real faces are the evidence for Table 3 and the ablations
# (Tables 5-8, Figs. 4 and 7: `real300w`, rendered from the committed runs) and SynthFace stays
# where there are no real images for the layout (Tables 1-2, Figs. 1 and 6); Table 4 measures
# the models. The SynthFace Tables 3 and 5-8 remain targets (`make table5 PROFILE=cpu`). Other
# profiles (smoke: the tests' whole pipeline; gpu/paper: a real DATA_ROOT) render every table
# on their own data (sccnb.study.plan.REAL_FACE_ABLATIONS).
ABLATION_TABLES := table3 table5 table6 table7 table8
reproduce-tables: table1 table2 table4 figures tour \
	$(if $(filter cpu,$(PROFILE)),real300w resolution,$(ABLATION_TABLES))

# Real faces: the paper's Tables 3 and 5-8 on the 1,207 real 300-W faces of
# ../shared/data/300w_mini (REAL_PROFILE: real300w = the paper's recipe on a GPU, real300w_cpu =
# 2 CPU cores). `make real300w` renders every table, the power plan and the verdict figure from
# the runs in the store and lists what is not trained; it never trains. `make real300w-runs`
# trains the missing evidence (sccnb.study.real300w.EVIDENCE, seeds from the power plan, most
# wanted first, resumable, one progress bar with an ETA; REAL_ONLY=scc_vs_fc,loss,... a part).
# Run ids hash the data's fingerprint, so rendering needs the data folder; without it the
# committed tables stay as they are and make says so.
REAL_PROFILE ?= $(if $(filter gpu,$(PROFILE)),real300w,real300w_cpu)
REAL := results/$(REAL_PROFILE)
REAL_ONLY ?=
REAL_DATA := $(if $(filter real300w% resolution,$(MAKECMDGOALS)),$(DATA_ROOT),)
REAL_DATA_DIR := $(or $(REAL_DATA),../shared/data/300w_mini)
real300w-runs:
	mkdir -p $(REAL)
	$(PY) -m sccnb runs --profile $(REAL_PROFILE) --workers $(WORKERS) \
		--data-root '$(REAL_DATA)' $(if $(REAL_ONLY),--only $(REAL_ONLY),)
# a DATA_ROOT given to `make real300w` re-renders from that folder (FORCE), whatever the stamps
$(REAL)/tables/table3_real300w.csv: notebooks/table3_real300w.ipynb $(SRC) $(if $(REAL_DATA),FORCE)
	mkdir -p $(REAL)/notebooks
	$(PAPERMILL) $< $(REAL)/notebooks/table3_real300w.ipynb -p profile $(REAL_PROFILE) \
		-p data_root '$(REAL_DATA)' -p out_dir $(REAL) -p workers $(WORKERS) -p missing skip \
		-p interactive False
	$(STABLE) $(REAL)/notebooks/table3_real300w.ipynb
	touch $@
ifeq ($(wildcard $(REAL_DATA_DIR)),)
real300w:
	@echo "make real300w: $(REAL_DATA_DIR) not found; the real-face runs are found by the data's" \
		"fingerprint, so the committed tables in $(REAL)/ are left as they are (set DATA_ROOT" \
		"to the 300w_mini folder)"
	@$(if $(REAL_DATA),exit 1,true)
else
real300w: $(REAL)/tables/table3_real300w.csv
endif

# What the setup can resolve: the seed and image noise of the stored runs and the minimum
# detectable effect against the number of seeds (trains nothing).
RESOLUTION := results/resolution
$(RESOLUTION)/tables/resolution.csv: notebooks/resolution.ipynb $(SRC) $(if $(REAL_DATA),FORCE)
	mkdir -p $(RESOLUTION)/notebooks
	$(PAPERMILL) $< $(RESOLUTION)/notebooks/resolution.ipynb -p real_profile $(REAL_PROFILE) \
		-p data_root '$(REAL_DATA)' -p out_dir $(RESOLUTION) -p interactive False
	$(STABLE) $(RESOLUTION)/notebooks/resolution.ipynb
	touch $@
ifeq ($(wildcard $(REAL_DATA_DIR)),)
resolution:
	@echo "make resolution: $(REAL_DATA_DIR) not found; results/resolution/ is left as it is"
	@$(if $(REAL_DATA),exit 1,true)
else
resolution: $(RESOLUTION)/tables/resolution.csv
endif

# The shipped photo model, real300w-scc-128 (sccnb.inference.zoo: committed half-precision
# weights, nothing to train) on every photo of ../shared/data/samples, the faces found by the
# detector (sccnb.inference.detect) and each re-cropped on its predicted points (the photo
# path's default, sccnb.inference.zoo.Landmarker). The overlays show real photos, which are not
# ours to redistribute: they stay in a git-ignored folder.
SAMPLES := ../shared/data/samples
predict-samples:
	$(PY) -m sccnb predict --model real300w-scc-128 $(SAMPLES) --out results/real300w_cpu/predictions

# The shipped models on their own held-out 300w_mini faces through `eval --data` (a folder of
# links, nothing copied), with protocol boxes (the run's own NME), detector boxes and refined
# detector boxes (the photo path).
HELDOUT := .cache/real300w_heldout
eval-heldout:
	$(PY) -m sccnb link-split real300w-scc heldout $(HELDOUT)
	for m in real300w-scc-128 real300w-scc real300w-fc; do \
		$(PY) -m sccnb eval $$m --data 300w $(HELDOUT) --boxes both \
			--out results/eval/$${m}_heldout; done

# The face detector's detection rate on all 1,207 faces of 300w_mini (the README quotes it).
detector-rate:
	$(PY) -m sccnb detect rate --data 300w ../shared/data/300w_mini --out results/detector

.PHONY: FORCE
FORCE:

clean-smoke:
	rm -rf results/smoke results/runs/smoke-*

# Forget the profile's runs, so that the next `make reproduce-tables` trains every model again
# instead of loading the committed run records.
clean-runs:
	rm -rf results/runs/$(PROFILE)-* $(RESULTS)/.runs

clean-cache:
	rm -rf .cache
