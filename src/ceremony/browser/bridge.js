function (send) {
  // keystation's WebAuthn bridge. Installed with script.addPreloadScript, so it runs
  // before any page script in every document (tabs, popups, frames) of the enrolment's
  // user context. `send` is the BiDi channel to keystation; it is only ever held in
  // this closure: nothing new is visible on the page's globals.
  //
  // Messages to keystation are [json, reply]: `json` a string, `reply` a private
  // function keystation calls (through the message's remote handle) with its answer.
  'use strict';
  const G = globalThis;
  const CC = G.CredentialsContainer;
  const PKC = G.PublicKeyCredential;
  const AAR = G.AuthenticatorAttestationResponse;
  // navigator.credentials only exists in secure contexts; there is nothing to replace
  // (and nothing Chromium could send to a key) elsewhere.
  if (!CC || !PKC || !AAR) return;

  // Intrinsics are captured now, before page code can replace them.
  const O = G.Object;
  const defineProperty = O.defineProperty;
  const getOwnPropertyDescriptor = O.getOwnPropertyDescriptor;
  const create = O.create;
  const keys = O.keys;
  const freeze = O.freeze;
  const Prom = G.Promise;
  const apply = G.Reflect.apply;
  const stringify = G.JSON.stringify;
  const parse = G.JSON.parse;
  const isArray = G.Array.isArray;
  const arrayFrom = G.Array.from;
  const ArrayBufferC = G.ArrayBuffer;
  const isView = G.ArrayBuffer.isView;
  const U8 = G.Uint8Array;
  const DOMExc = G.DOMException;
  const TypeErr = G.TypeError;
  const Str = G.String;
  const Num = G.Number;
  const fromCharCode = G.String.fromCharCode;
  const charCodeAt = G.String.prototype.charCodeAt;
  const btoa = G.btoa;
  const atob = G.atob;
  const getRandomValues = G.Crypto.prototype.getRandomValues;
  const cryptoObj = G.crypto;
  const sliceBuffer = G.ArrayBuffer.prototype.slice;
  const bufferByteLength = getOwnPropertyDescriptor(G.ArrayBuffer.prototype, 'byteLength').get;
  const abortedGetter = getOwnPropertyDescriptor(G.AbortSignal.prototype, 'aborted').get;
  const reasonGetter = getOwnPropertyDescriptor(G.AbortSignal.prototype, 'reason').get;
  const AbortSignalC = G.AbortSignal;
  const addEventListener = G.EventTarget.prototype.addEventListener;
  const removeEventListener = G.EventTarget.prototype.removeEventListener;
  const nativeCreate = CC.prototype.create;
  const nativeGet = CC.prototype.get;

  const NOT_ALLOWED = 'The operation either timed out or was not allowed. See: https://www.w3.org/TR/webauthn-2/#sctn-privacy-considerations-client.';

  function randomId() {
    const b = new U8(16);
    apply(getRandomValues, cryptoObj, [b]);
    let s = '';
    for (let i = 0; i < b.length; i++) s += (b[i] < 16 ? '0' : '') + b[i].toString(16);
    return s;
  }

  function toB64u(bytes) {
    let bin = '';
    for (let i = 0; i < bytes.length; i++) bin += fromCharCode(bytes[i]);
    let s = btoa(bin);
    let out = '';
    for (let i = 0; i < s.length; i++) {
      const c = s[i];
      if (c === '+') out += '-';
      else if (c === '/') out += '_';
      else if (c !== '=') out += c;
    }
    return out;
  }

  function fromB64u(s) {
    let t = '';
    for (let i = 0; i < s.length; i++) {
      const c = s[i];
      t += c === '-' ? '+' : c === '_' ? '/' : c;
    }
    while (t.length % 4) t += '=';
    const bin = atob(t);
    const out = new U8(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = apply(charCodeAt, bin, [i]);
    return out.buffer;
  }

  // WebIDL BufferSource → base64url; anything else is a TypeError like Blink's.
  function bufferSource(v, member, dict) {
    let bytes;
    if (v instanceof ArrayBufferC) bytes = new U8(v);
    else if (isView(v)) bytes = new U8(v.buffer, v.byteOffset, v.byteLength);
    else {
      throw new TypeErr("Failed to read the '" + member + "' property from '" + dict +
        "': The provided value is not of type '(ArrayBuffer or ArrayBufferView)'.");
    }
    return toB64u(bytes);
  }

  function isObject(v) {
    return v !== null && (typeof v === 'object' || typeof v === 'function');
  }

  function dict(v, name) {
    if (v === undefined || v === null) return undefined;
    if (!isObject(v)) throw new TypeErr("Failed to read the '" + name + "' property: The provided value is not of type 'dictionary'.");
    return v;
  }

  function seq(v, name) {
    if (v === undefined) return undefined;
    if (!isObject(v)) throw new TypeErr("Failed to read the '" + name + "' property: The provided value cannot be converted to a sequence.");
    return arrayFrom(v);
  }

  function copyString(from, to, key) {
    if (from[key] !== undefined) to[key] = Str(from[key]);
  }

  // PublicKeyCredentialCreationOptions → its JSON form (BufferSources as base64url).
  // Only known members are copied; keystation checks required members and values.
  function creationOptionsToJSON(pk) {
    const D = 'PublicKeyCredentialCreationOptions';
    if (!isObject(pk)) throw new TypeErr("Failed to read the 'publicKey' property: The provided value is not of type '" + D + "'.");
    const out = {};
    const rp = dict(pk.rp, 'rp');
    if (rp) {
      out.rp = {};
      copyString(rp, out.rp, 'id');
      copyString(rp, out.rp, 'name');
    }
    const user = dict(pk.user, 'user');
    if (user) {
      out.user = {};
      if (user.id !== undefined) out.user.id = bufferSource(user.id, 'id', 'PublicKeyCredentialUserEntity');
      copyString(user, out.user, 'name');
      copyString(user, out.user, 'displayName');
    }
    if (pk.challenge !== undefined) out.challenge = bufferSource(pk.challenge, 'challenge', D);
    const params = seq(pk.pubKeyCredParams, 'pubKeyCredParams');
    if (params) {
      out.pubKeyCredParams = [];
      for (const p of params) {
        const d = dict(p, 'pubKeyCredParams') || {};
        const e = {};
        copyString(d, e, 'type');
        if (d.alg !== undefined) e.alg = Num(d.alg);
        out.pubKeyCredParams.push(e);
      }
    }
    if (pk.timeout !== undefined) out.timeout = Num(pk.timeout);
    const excl = seq(pk.excludeCredentials, 'excludeCredentials');
    if (excl) {
      out.excludeCredentials = [];
      for (const c of excl) {
        const d = dict(c, 'excludeCredentials') || {};
        const e = {};
        copyString(d, e, 'type');
        if (d.id !== undefined) e.id = bufferSource(d.id, 'id', 'PublicKeyCredentialDescriptor');
        const tr = seq(d.transports, 'transports');
        if (tr) e.transports = tr.map(Str);
        out.excludeCredentials.push(e);
      }
    }
    const sel = dict(pk.authenticatorSelection, 'authenticatorSelection');
    if (sel) {
      out.authenticatorSelection = {};
      copyString(sel, out.authenticatorSelection, 'authenticatorAttachment');
      copyString(sel, out.authenticatorSelection, 'residentKey');
      copyString(sel, out.authenticatorSelection, 'userVerification');
      out.authenticatorSelection.requireResidentKey = !!sel.requireResidentKey;
    }
    const hints = seq(pk.hints, 'hints');
    if (hints) out.hints = hints.map(Str);
    copyString(pk, out, 'attestation');
    const formats = seq(pk.attestationFormats, 'attestationFormats');
    if (formats) out.attestationFormats = formats.map(Str);
    const ext = dict(pk.extensions, 'extensions');
    if (ext) {
      const e = {};
      if (ext.credProps !== undefined) e.credProps = !!ext.credProps;
      if (ext.hmacCreateSecret !== undefined) e.hmacCreateSecret = !!ext.hmacCreateSecret;
      copyString(ext, e, 'credentialProtectionPolicy');
      if (ext.enforceCredentialProtectionPolicy !== undefined) e.enforceCredentialProtectionPolicy = !!ext.enforceCredentialProtectionPolicy;
      if (ext.minPinLength !== undefined) e.minPinLength = !!ext.minPinLength;
      const lb = dict(ext.largeBlob, 'largeBlob');
      if (lb) {
        e.largeBlob = {};
        copyString(lb, e.largeBlob, 'support');
      }
      if (ext.prf !== undefined) e.prf = {};
      if (ext.credBlob !== undefined) e.credBlob = bufferSource(ext.credBlob, 'credBlob', 'AuthenticationExtensionsClientInputs');
      copyString(ext, e, 'appidExclude');
      out.extensions = e;
    }
    return out;
  }

  function copyBuffer(b) {
    return apply(sliceBuffer, b, [0]);
  }

  function own(obj, props) {
    for (const k of keys(props)) {
      defineProperty(obj, k, { value: props[k], enumerable: true, writable: false, configurable: true });
    }
    return obj;
  }

  // A PublicKeyCredential built from keystation's RegistrationResponseJSON. It is
  // created from the real prototypes, so `instanceof` and Object.prototype.toString
  // behave as for a genuine credential; every member is an own property because the
  // prototypes' getters and methods are brand-checked and would throw on this object.
  function makeCredential(j) {
    const r = j.response;
    const rawId = fromB64u(j.rawId);
    const clientDataJSON = fromB64u(r.clientDataJSON);
    const attestationObject = fromB64u(r.attestationObject);
    const authenticatorData = fromB64u(r.authenticatorData);
    const publicKey = r.publicKey === undefined ? null : fromB64u(r.publicKey);
    const transports = freeze(arrayFrom(r.transports));
    const alg = r.publicKeyAlgorithm;
    const extJson = stringify(j.clientExtensionResults);
    const toJsonText = stringify(j);
    const response = own(create(AAR.prototype), {
      clientDataJSON: clientDataJSON,
      attestationObject: attestationObject,
      getTransports: function getTransports() { return arrayFrom(transports); },
      getAuthenticatorData: function getAuthenticatorData() { return copyBuffer(authenticatorData); },
      getPublicKey: function getPublicKey() { return publicKey === null ? null : copyBuffer(publicKey); },
      getPublicKeyAlgorithm: function getPublicKeyAlgorithm() { return alg; },
    });
    return own(create(PKC.prototype), {
      id: j.id,
      rawId: rawId,
      type: 'public-key',
      authenticatorAttachment: j.authenticatorAttachment,
      response: response,
      getClientExtensionResults: function getClientExtensionResults() { return parse(extJson); },
      toJSON: function toJSON() { return parse(toJsonText); },
    });
  }

  function makeError(name, message) {
    if (name === 'TypeError') return new TypeErr(message);
    return new DOMExc(message, name);
  }

  function signalOf(options) {
    const s = options.signal;
    if (s === undefined || s === null) return null;
    if (!(s instanceof AbortSignalC)) throw new TypeErr("Failed to read the 'signal' property from 'CredentialCreationOptions': Failed to convert value to 'AbortSignal'.");
    return s;
  }

  function post(message, reply) {
    send([stringify(message), reply === undefined ? null : reply]);
  }

  function keystationCreate(options) {
    if (options === undefined || options === null) options = {};
    if (!isObject(options) || options.publicKey === undefined) {
      // Password and federated credentials never reach a security key.
      return apply(nativeCreate, this, [options]);
    }
    return new Prom(function (resolve, reject) {
      let signal, publicKey;
      try {
        signal = signalOf(options);
        if (signal && apply(abortedGetter, signal, [])) return reject(apply(reasonGetter, signal, []));
        publicKey = creationOptionsToJSON(options.publicKey);
      } catch (e) {
        return reject(e);
      }
      const id = randomId();
      let settled = false;
      function onAbort() {
        if (settled) return;
        settled = true;
        post({ v: 1, op: 'cancel', id: id });
        reject(apply(reasonGetter, signal, []));
      }
      function reply(text) {
        if (settled) return;
        settled = true;
        if (signal) apply(removeEventListener, signal, ['abort', onAbort]);
        let m;
        try {
          m = parse(Str(text));
        } catch (e) {
          return reject(makeError('NotAllowedError', NOT_ALLOWED));
        }
        if (m && m.ok === true) {
          try {
            resolve(makeCredential(m.credential));
          } catch (e) {
            reject(makeError('NotAllowedError', NOT_ALLOWED));
          }
        } else {
          reject(makeError(m && m.name ? Str(m.name) : 'NotAllowedError', m && m.message ? Str(m.message) : NOT_ALLOWED));
        }
      }
      if (signal) apply(addEventListener, signal, ['abort', onAbort, { once: true }]);
      post({ v: 1, op: 'create', id: id, publicKey: publicKey }, reply);
    });
  }

  // get() never reaches Chromium's own WebAuthn stack (which would open the USB key
  // behind keystation's back). A modal request fails as if the user had dismissed
  // the dialog; a conditional (autofill) request stays pending until aborted, which is
  // what Chromium does when no passkey is offered.
  function keystationGet(options) {
    if (options === undefined || options === null) options = {};
    if (!isObject(options) || options.publicKey === undefined) {
      return apply(nativeGet, this, [options]);
    }
    return new Prom(function (resolve, reject) {
      let signal;
      try {
        signal = signalOf(options);
      } catch (e) {
        return reject(e);
      }
      if (signal && apply(abortedGetter, signal, [])) return reject(apply(reasonGetter, signal, []));
      const conditional = options.mediation === 'conditional';
      post({ v: 1, op: 'get', id: randomId(), conditional: conditional });
      if (!conditional) return reject(makeError('NotAllowedError', NOT_ALLOWED));
      if (signal) {
        apply(addEventListener, signal, ['abort', function () { reject(apply(reasonGetter, signal, [])); }, { once: true }]);
      }
    });
  }

  function install(name, fn) {
    const d = getOwnPropertyDescriptor(CC.prototype, name);
    defineProperty(fn, 'name', { value: name });
    defineProperty(fn, 'length', { value: 0 });
    defineProperty(CC.prototype, name, {
      value: fn,
      writable: d ? d.writable : true,
      enumerable: d ? d.enumerable : true,
      configurable: d ? d.configurable : true,
    });
  }
  install('create', keystationCreate);
  install('get', keystationGet);
}
