package modbus

import "fmt"

// ExceptionError is an exception response: the device understood the
// request and refused it.
type ExceptionError struct {
	Function byte // the function code of the request
	Code     byte // the exception code
}

func (e *ExceptionError) Error() string {
	return fmt.Sprintf("modbus: exception '%d' (%s)", e.Code, exceptionName(e.Code))
}

// exceptionName names the exception codes of the Modbus Application
// Protocol v1.1b, 7.
func exceptionName(code byte) string {
	switch code {
	case 1:
		return "illegal function"
	case 2:
		return "illegal data address"
	case 3:
		return "illegal data value"
	case 4:
		return "server device failure"
	case 5:
		return "acknowledge"
	case 6:
		return "server device busy"
	case 8:
		return "memory parity error"
	case 10:
		return "gateway path unavailable"
	case 11:
		return "gateway target device failed to respond"
	}
	return "unknown exception"
}
