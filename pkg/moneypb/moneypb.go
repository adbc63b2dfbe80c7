// Package moneypb converts between money.Amount and the wire's
// unigate.common.v1.Money, validating what arrives.
package moneypb

import (
	"errors"

	commonv1 "github.com/unigate/unigate/proto/gen/unigate/common/v1"

	"github.com/unigate/unigate/pkg/money"
	"github.com/unigate/unigate/pkg/rpcerr"
)

// FromProto validates m and returns it as an amount. field names the
// request field for the error ("amount"). A missing amount, an unknown
// currency or a non-positive or too large amount is an InvalidArgument
// error naming the field.
func FromProto(m *commonv1.Money, field string) (money.Amount, error) {
	if m == nil {
		return money.Amount{}, rpcerr.Field(rpcerr.InvalidAmount, field, "is required")
	}
	a, err := money.New(m.GetCurrency(), m.GetMinorUnits())
	switch {
	case errors.Is(err, money.ErrUnknownCurrency):
		return money.Amount{}, rpcerr.Field(rpcerr.UnsupportedCurrency, field+".currency", "%q is not an ISO 4217 currency code", m.GetCurrency())
	case err != nil:
		return money.Amount{}, rpcerr.Field(rpcerr.InvalidAmount, field+".minor_units", "%d: must be positive and at most %d", m.GetMinorUnits(), int64(money.MaxMinorUnits))
	}
	return a, nil
}

// ToProto returns a as a wire Money; the zero Amount becomes nil.
func ToProto(a money.Amount) *commonv1.Money {
	if a == (money.Amount{}) {
		return nil
	}
	return &commonv1.Money{Currency: a.Currency, MinorUnits: a.Minor}
}
