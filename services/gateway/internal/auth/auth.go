package auth

import (
	"go.uber.org/zap"

	"github.com/guarantor/guarantor/platform/principal"
)

// Authenticator turns an Authorization header into a principal. Either source may be
// nil; with both nil every call is refused.
type Authenticator struct {
	Keys *KeyStore
	JWT  *JWTVerifier
	Log  *zap.Logger
}

// Authenticate checks the value of an Authorization header. Errors are
// ErrNoCredentials or ErrBadCredentials; why a credential was refused is logged at
// debug level, never the credential.
func (a *Authenticator) Authenticate(header string) (principal.Principal, error) {
	token, err := ParseBearer(header)
	if err != nil {
		return principal.Principal{}, err
	}
	if looksLikeJWT(token) {
		if a.JWT == nil {
			return principal.Principal{}, ErrBadCredentials
		}
		p, err := a.JWT.Verify(token)
		if err != nil {
			if a.Log != nil {
				a.Log.Debug("JWT refused", zap.Error(err))
			}
			return principal.Principal{}, ErrBadCredentials
		}
		return p, nil
	}
	if a.Keys != nil {
		if p, ok := a.Keys.Lookup(token); ok {
			return p, nil
		}
	}
	return principal.Principal{}, ErrBadCredentials
}
