package auth

import "errors"

// SASL failure conditions (RFC 6120 §6.5), the values of Failure.Condition.
const (
	ConditionAborted              = "aborted"
	ConditionAccountDisabled      = "account-disabled"
	ConditionCredentialsExpired   = "credentials-expired"
	ConditionEncryptionRequired   = "encryption-required"
	ConditionIncorrectEncoding    = "incorrect-encoding"
	ConditionInvalidAuthzid       = "invalid-authzid"
	ConditionInvalidMechanism     = "invalid-mechanism"
	ConditionMalformedRequest     = "malformed-request"
	ConditionMechanismTooWeak     = "mechanism-too-weak"
	ConditionNotAuthorized        = "not-authorized"
	ConditionTemporaryAuthFailure = "temporary-auth-failure"
)

// Failure is a SASL failure (RFC 6120 §6.5).
//
// Condition is one of the Condition* constants and becomes the child element
// of <failure/>. Text is safe to show the client: it never contains a
// password, key, proof, salt or nonce, and never reveals whether the user
// exists. Err is the internal cause, for logs; it is secret-free too, but
// may say why authentication failed (for example that the user is unknown),
// so it must not be sent to the client.
type Failure struct {
	Condition string
	Text      string
	Err       error
}

func (f *Failure) Error() string {
	s := "sasl: " + f.Condition
	if f.Text != "" {
		s += ": " + f.Text
	}
	if f.Err != nil {
		s += " (" + f.Err.Error() + ")"
	}
	return s
}

func (f *Failure) Unwrap() error { return f.Err }

// Texts shown to clients. They are fixed strings so that nothing
// attacker-controlled or secret can leak into them.
const (
	textMalformed      = "malformed request"
	textAuthFailed     = "authentication failed"
	textTryLater       = "authentication temporarily unavailable"
	textBadAuthzid     = "authorization identity not allowed"
	textBadMechanism   = "mechanism not offered"
	textNeedTLS        = "mechanism requires TLS"
	textTooLong        = "message too long"
	textFinished       = "authentication exchange already finished"
	textChannelBinding = "channel binding failed"
)

func malformed(cause string) *Failure {
	return &Failure{Condition: ConditionMalformedRequest, Text: textMalformed, Err: errors.New(cause)}
}

func notAuthorized(cause string) *Failure {
	return &Failure{Condition: ConditionNotAuthorized, Text: textAuthFailed, Err: errors.New(cause)}
}
