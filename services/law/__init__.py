"""The law as data and pure functions: the working-day calendar, the dated catalogue of
procedures and agencies, keyed pseudonyms. No I/O beyond reading its own data files, and no
import from the runtime (services.common): services use both, neither uses the other."""
