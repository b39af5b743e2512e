from services.common.persistence.migrations import run_env

run_env()
