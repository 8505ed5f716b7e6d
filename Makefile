# Shortcuts for dev.py, which needs nothing but Python and pip.
.PHONY: demo test bench clean
demo:
	python3 dev.py demo
test:
	python3 dev.py test
bench:
	python3 dev.py bench
clean:
	rm -rf .venv out .pytest_cache
