/**
 * Which registry flavor a client gets from `/registries` (protocol.md §3.1, cases C1–C5, C52).
 */

export const FLAVORS = ["eager", "conservative"] as const;
export type Flavor = (typeof FLAVORS)[number];
const DEFAULT_FLAVOR: Flavor = "conservative";

function isFlavor(value: string): value is Flavor {
  return (FLAVORS as readonly string[]).includes(value);
}

/**
 * An explicit `Julia-Registry-Preference` wins; otherwise a CI run (any `Julia-CI-Variables` item
 * ending in `=t`) gets eager; otherwise conservative. An unknown preference falls back to the
 * default flavor, so no path is ever built from the raw header value.
 */
export function chooseFlavor(preference: string | null, ciVariables: string | null): Flavor {
  if (preference !== null) {
    const wanted = preference.trim().toLowerCase();
    return isFlavor(wanted) ? wanted : DEFAULT_FLAVOR;
  }
  if (ciVariables?.split(";").some((item) => item.trim().endsWith("=t"))) {
    return "eager";
  }
  return DEFAULT_FLAVOR;
}
