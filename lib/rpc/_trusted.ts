/**
 * A private marker: message constructors skip validation for fields the library has already
 * validated (decoding, replies built from a decoded request). Never exported from `mod.ts`.
 *
 * @module
 */
export const TRUSTED: unique symbol = Symbol("syft.rpc.trusted");
